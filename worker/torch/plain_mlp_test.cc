// ExtractPlainMlp on the built-in model and on modules that look like MLPs but are not.
#include "worker/torch/plain_mlp.h"

#include <torch/torch.h>

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/fieldnet/mlp_reference.h"

namespace kiln::torchrt {
namespace {

using ::testing::HasSubstr;

constexpr std::array<double, 6> kUnitBox = {-1, -1, -1, 1, 1, 1};

// nn.Linear-style layers 3 -> 16 -> 16 -> 1 ([out, in] weights) and `forward_src`
// (F.linear written as addmm: C++ module sources have no torch.nn.functional).
torch::jit::Module LinearStyleModule(const std::string& forward_src) {
  torch::manual_seed(7);
  torch::jit::Module module("Mlp");
  const int widths[] = {3, 16, 16, 1};
  for (int l = 0; l < 3; ++l) {
    module.register_parameter("w" + std::to_string(l), torch::randn({widths[l + 1], widths[l]}),
                              false);
    module.register_parameter("b" + std::to_string(l), torch::randn({widths[l + 1]}), false);
  }
  module.define(forward_src);
  return module;
}

constexpr char kPlainForward[] = R"(
def forward(self, points):
    x = torch.relu(torch.addmm(self.b0, points, self.w0.t()))
    x = torch.relu(torch.addmm(self.b1, x, self.w1.t()))
    return torch.addmm(self.b2, x, self.w2.t()).squeeze(1)
)";

TEST(PlainMlpTest, TheBuiltInModelIsAPlainMlpAndMatchesItsForward) {
  torch::jit::Module module =
      torch::jit::load(std::string(KILN_BUILTIN_MODELS_DIR) + "/kiln-torus/1/model.pt");
  absl::StatusOr<fieldnet::MlpWeights> mlp = ExtractPlainMlp(module, kUnitBox);
  ASSERT_TRUE(mlp.ok()) << mlp.status();
  EXPECT_EQ(mlp->widths.front(), 3);
  EXPECT_EQ(mlp->widths.back(), 1);
  // The extracted weights give the module's own values at a few points.
  for (const auto& p : {std::array<float, 3>{0.6f, 0, 0}, {0, 0, 0}, {0.9f, -0.9f, 0.5f}}) {
    const double reference = fieldnet::ReferenceActivations(*mlp, p[0], p[1], p[2]).back()[0];
    const float actual = module.forward({torch::tensor({p[0], p[1], p[2]}).reshape({1, 3})})
                             .toTensor()
                             .item<float>();
    EXPECT_NEAR(reference, actual, 1e-5);
  }
}

TEST(PlainMlpTest, LinearStyleWeightsAreRecognised) {
  torch::jit::Module module = LinearStyleModule(kPlainForward);
  absl::StatusOr<fieldnet::MlpWeights> mlp = ExtractPlainMlp(module, kUnitBox);
  ASSERT_TRUE(mlp.ok()) << mlp.status();
  EXPECT_EQ(mlp->widths, (std::vector<int>{3, 16, 16, 1}));
}

TEST(PlainMlpTest, LookalikesAreRejectedWithTheReason) {
  // The same parameters with a skip connection: shapes chain, values do not.
  absl::StatusOr<fieldnet::MlpWeights> skip = ExtractPlainMlp(LinearStyleModule(R"(
def forward(self, points):
    h = torch.relu(torch.addmm(self.b0, points, self.w0.t()))
    x = torch.relu(torch.addmm(self.b1, h, self.w1.t())) + h
    return torch.addmm(self.b2, x, self.w2.t()).squeeze(1)
)"),
                                                              kUnitBox);
  EXPECT_EQ(skip.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(skip.status().ToString(), HasSubstr("differs from Linear/ReLU layers"));
  // Another activation.
  absl::StatusOr<fieldnet::MlpWeights> tanh = ExtractPlainMlp(LinearStyleModule(R"(
def forward(self, points):
    x = torch.tanh(torch.addmm(self.b0, points, self.w0.t()))
    x = torch.tanh(torch.addmm(self.b1, x, self.w1.t()))
    return torch.addmm(self.b2, x, self.w2.t()).squeeze(1)
)"),
                                                              kUnitBox);
  EXPECT_THAT(tanh.status().ToString(), HasSubstr("differs"));
  // Parameters that are not layers at all.
  torch::jit::Module sphere("Sphere");
  sphere.register_parameter("w", torch::ones({4}), false);
  sphere.define("def forward(self, points):\n    return torch.norm(points, 2, 1) - 0.5\n");
  absl::StatusOr<fieldnet::MlpWeights> not_layers = ExtractPlainMlp(sphere, kUnitBox);
  EXPECT_THAT(not_layers.status().ToString(), HasSubstr("not (weight, bias) pairs"));
}

}  // namespace
}  // namespace kiln::torchrt
