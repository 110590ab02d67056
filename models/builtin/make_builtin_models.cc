// kiln-make-builtin-models: the build step that creates the project's own neural field
// models, so tests and the demo need no downloads. It fits a small ReLU MLP to the exact
// signed distance of a torus with LibTorch (fixed seed, one thread: the same archive on
// every build), defines the network as a TorchScript module from C++ (parameters plus
// forward() source) and writes
//   <out>/kiln-torus/1/model.pt       TorchScript archive: forward(points [N,3]) -> sdf [N]
//   <out>/kiln-torus/1/manifest.json  kiln.v1.ModelManifest (runtime torchscript)
// and prints the fit error (mean |sdf error| on uniform random points in the bounds and
// near the surface).
//   kiln-make-builtin-models --out=DIR [--steps=N] [--hidden=N] [--layers=N] [--threads=N]
#include <torch/script.h>
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "google/protobuf/util/json_util.h"
#include "kiln/v1/model.pb.h"

namespace {

constexpr char kName[] = "kiln-torus";
constexpr char kVersion[] = "1";
// Torus in the xy plane around the origin.
constexpr double kMajorRadius = 0.6;
constexpr double kMinorRadius = 0.25;
constexpr double kBound = 1.0;  // The field's box: [-1, 1]^3.
constexpr int64_t kSeed = 20260401;

struct Flags {
  std::string out;
  int steps = 400;
  int hidden = 64;
  int layers = 3;  // Hidden layers.
  int threads = 1;
};

bool ParseFlags(int argc, char** argv, Flags* flags) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const auto value = [&](std::string_view prefix) -> const char* {
      return arg.starts_with(prefix) ? argv[i] + prefix.size() : nullptr;
    };
    if (const char* v = value("--out=")) {
      flags->out = v;
    } else if (const char* v = value("--steps=")) {
      flags->steps = std::atoi(v);
    } else if (const char* v = value("--hidden=")) {
      flags->hidden = std::atoi(v);
    } else if (const char* v = value("--layers=")) {
      flags->layers = std::atoi(v);
    } else if (const char* v = value("--threads=")) {
      flags->threads = std::atoi(v);
    } else {
      std::fprintf(stderr, "kiln-make-builtin-models: unknown argument \"%s\"\n", argv[i]);
      return false;
    }
  }
  if (flags->out.empty() || flags->steps < 1 || flags->hidden < 1 || flags->layers < 1 ||
      flags->threads < 1) {
    std::fprintf(stderr,
                 "usage: kiln-make-builtin-models --out=DIR [--steps=N>0] [--hidden=N>0] "
                 "[--layers=N>0] [--threads=N>0]\n");
    return false;
  }
  return true;
}

torch::Tensor TorusSdf(const torch::Tensor& p) {
  const torch::Tensor xy = torch::sqrt(p.select(1, 0).square() + p.select(1, 1).square());
  const torch::Tensor q = torch::stack({xy - kMajorRadius, p.select(1, 2)}, 1);
  return q.norm(2, 1) - kMinorRadius;
}

torch::Tensor UniformPoints(int64_t n) { return (torch::rand({n, 3}) * 2 - 1) * kBound; }

// Points on the torus pushed off it along the normal by N(0, 0.05).
torch::Tensor NearSurfacePoints(int64_t n) {
  const torch::Tensor theta = torch::rand({n}) * (2 * M_PI);
  const torch::Tensor phi = torch::rand({n}) * (2 * M_PI);
  const torch::Tensor offset = torch::randn({n}) * 0.05;
  const torch::Tensor r = kMinorRadius + offset;
  const torch::Tensor ring = kMajorRadius + r * torch::cos(phi);
  return torch::stack({ring * torch::cos(theta), ring * torch::sin(theta), r * torch::sin(phi)}, 1);
}

// The MLP as plain tensors: weights stored [in, out] so forward is addmm(b, x, w).
struct Mlp {
  std::vector<torch::Tensor> weights;
  std::vector<torch::Tensor> biases;

  torch::Tensor Forward(torch::Tensor x) const {
    for (size_t i = 0; i + 1 < weights.size(); ++i) {
      x = torch::relu(torch::addmm(biases[i], x, weights[i]));
    }
    return torch::addmm(biases.back(), x, weights.back()).squeeze(-1);
  }
};

Mlp InitMlp(int hidden, int layers) {
  Mlp mlp;
  int in = 3;
  for (int i = 0; i <= layers; ++i) {
    const int out = i == layers ? 1 : hidden;
    // He initialisation for ReLU.
    mlp.weights.push_back((torch::randn({in, out}) * std::sqrt(2.0 / in)).requires_grad_());
    mlp.biases.push_back(torch::zeros({out}).requires_grad_());
    in = out;
  }
  return mlp;
}

// The TorchScript source of forward() for `count` linear layers.
std::string ForwardSource(size_t count) {
  std::string src = "def forward(self, points):\n    x = points\n";
  for (size_t i = 0; i < count; ++i) {
    const std::string layer =
        "torch.addmm(self.b" + std::to_string(i) + ", x, self.w" + std::to_string(i) + ")";
    src += i + 1 < count ? "    x = torch.relu(" + layer + ")\n" : "    x = " + layer + "\n";
  }
  src += "    return x.squeeze(-1)\n";
  return src;
}

double MeanAbsError(const Mlp& mlp, const torch::Tensor& points) {
  torch::NoGradGuard no_grad;
  return (mlp.Forward(points) - TorusSdf(points)).abs().mean().item<double>();
}

kiln::v1::ModelManifest Manifest(const Flags& flags, double uniform_error) {
  kiln::v1::ModelManifest m;
  m.set_name(kName);
  m.set_version(kVersion);
  m.set_runtime(kiln::v1::MODEL_RUNTIME_TORCHSCRIPT);
  m.set_file("model.pt");
  m.set_description("Kiln's built-in neural SDF: a " + std::to_string(flags.layers) + "x" +
                    std::to_string(flags.hidden) +
                    " ReLU MLP fitted to a torus (R=0.6, r=0.25) by kiln-make-builtin-models; "
                    "mean |sdf error| " +
                    std::to_string(uniform_error) + " on uniform points in the bounds");
  auto* input = m.add_inputs();
  input->set_name("points");
  input->add_shape(-1);
  input->add_shape(3);
  input->set_dtype("float32");
  input->set_description("query points, xyz");
  auto* output = m.add_outputs();
  output->set_name("sdf");
  output->add_shape(-1);
  output->set_dtype("float32");
  output->set_description("signed distance, negative inside");
  auto* bf16 = m.add_tiers();
  bf16->set_name("gpu-bf16");
  bf16->mutable_requirements()->set_accelerator(kiln::v1::ACCELERATOR_GPU);
  bf16->mutable_requirements()->set_min_compute_capability(80);
  bf16->set_dtype("bfloat16");
  auto* fp16 = m.add_tiers();
  fp16->set_name("gpu-fp16");
  fp16->mutable_requirements()->set_accelerator(kiln::v1::ACCELERATOR_GPU);
  fp16->set_dtype("float16");
  auto* cpu = m.add_tiers();
  cpu->set_name("cpu-fp32");
  cpu->mutable_requirements()->set_accelerator(kiln::v1::ACCELERATOR_CPU);
  cpu->set_dtype("float32");
  m.mutable_field()->set_kind(kiln::v1::FIELD_KIND_SDF);
  m.mutable_field()->set_iso(0);
  for (double b : {-kBound, -kBound, -kBound, kBound, kBound, kBound}) {
    m.mutable_field()->add_bounds(b);
  }
  m.add_tasks("field.decode");
  return m;
}

int Run(const Flags& flags) {
  const auto start = std::chrono::steady_clock::now();
  torch::set_num_threads(flags.threads);
  torch::manual_seed(kSeed);

  Mlp mlp = InitMlp(flags.hidden, flags.layers);
  std::vector<torch::Tensor> parameters = mlp.weights;
  parameters.insert(parameters.end(), mlp.biases.begin(), mlp.biases.end());
  torch::optim::Adam adam(parameters, torch::optim::AdamOptions(3e-3));
  constexpr int64_t kBatch = 2048;
  for (int step = 0; step < flags.steps; ++step) {
    // Half uniform (the sign everywhere), half near the surface (where it matters).
    const torch::Tensor points =
        torch::cat({UniformPoints(kBatch / 2), NearSurfacePoints(kBatch / 2)}, 0);
    const torch::Tensor loss = (mlp.Forward(points) - TorusSdf(points)).abs().mean();
    adam.zero_grad();
    loss.backward();
    adam.step();
    // Step the rate down for the last third: finer detail near the surface.
    if (step == flags.steps * 2 / 3) {
      for (auto& group : adam.param_groups()) {
        static_cast<torch::optim::AdamOptions&>(group.options()).lr(1e-3);
      }
    }
  }
  const double uniform_error = MeanAbsError(mlp, UniformPoints(100000));
  const double surface_error = MeanAbsError(mlp, NearSurfacePoints(100000));

  torch::jit::Module module("KilnTorusSdf");
  for (size_t i = 0; i < mlp.weights.size(); ++i) {
    module.register_parameter("w" + std::to_string(i), mlp.weights[i].detach().contiguous(),
                              /*is_buffer=*/false);
    module.register_parameter("b" + std::to_string(i), mlp.biases[i].detach().contiguous(),
                              /*is_buffer=*/false);
  }
  module.define(ForwardSource(mlp.weights.size()));

  const std::filesystem::path dir = std::filesystem::path(flags.out) / kName / kVersion;
  std::filesystem::create_directories(dir);
  module.save((dir / "model.pt").string());

  std::string json;
  google::protobuf::util::JsonPrintOptions print;
  print.add_whitespace = true;
  print.preserve_proto_field_names = true;
  if (!google::protobuf::util::MessageToJsonString(Manifest(flags, uniform_error), &json, print)
           .ok()) {
    std::fprintf(stderr, "kiln-make-builtin-models: cannot write the manifest as JSON\n");
    return 1;
  }
  std::ofstream((dir / "manifest.json").string()) << json;

  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf(
      "kiln-make-builtin-models: %s@%s: %dx%d ReLU MLP, %d Adam steps, %d thread(s), %.1f s; "
      "mean |sdf error| %.4f on uniform points in [-1,1]^3, %.4f near the surface -> %s\n",
      kName, kVersion, flags.layers, flags.hidden, flags.steps, flags.threads, seconds,
      uniform_error, surface_error, dir.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  if (!ParseFlags(argc, argv, &flags)) return 2;
  try {
    return Run(flags);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kiln-make-builtin-models: %s\n", e.what());
    return 1;
  }
}
