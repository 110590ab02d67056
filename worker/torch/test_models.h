// Test helpers: small TorchScript modules defined from C++ and saved into a model
// repository layout, for the model cache and field.decode tests. Test-only.
#ifndef KILN_WORKER_TORCH_TEST_MODELS_H_
#define KILN_WORKER_TORCH_TEST_MODELS_H_

#include <torch/script.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace kiln::torchrt::testing {

// Saves <root>/<name>/1/{model.pt, manifest.json}: a module with one [width] parameter
// `w` (so its size is known) whose forward is `forward_body` (TorchScript, one
// expression of `points`), an SDF field model in [-1, 1]^3.
inline void WriteTestModel(const std::filesystem::path& root, const std::string& name,
                           const std::string& forward_body, int64_t width = 4) {
  const std::filesystem::path dir = root / name / "1";
  std::filesystem::create_directories(dir);
  torch::jit::Module module("TestModel");
  module.register_parameter("w", torch::ones({width}), /*is_buffer=*/false);
  module.define("def forward(self, points):\n    return " + forward_body + "\n");
  module.save((dir / "model.pt").string());
  std::ofstream(dir / "manifest.json")
      << R"({"name":")" << name << R"(","version":"1","runtime":"MODEL_RUNTIME_TORCHSCRIPT",
            "file":"model.pt","tasks":["field.decode"],
            "field":{"kind":"FIELD_KIND_SDF","bounds":[-1,-1,-1,1,1,1]}})";
}

// A sphere of radius 0.5 as an exact SDF.
inline constexpr char kSphereBody[] = "torch.norm(points, 2, 1) - 0.5 + self.w.sum() * 0.0";

}  // namespace kiln::torchrt::testing

#endif  // KILN_WORKER_TORCH_TEST_MODELS_H_
