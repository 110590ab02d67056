// Recognising plain MLP field networks inside TorchScript modules, so that the GPU path of
// field.decode can run them with FusedMlpField (worker/fieldnet) instead of LibTorch.
//
// A module qualifies when its parameters, in registration order, are (weight, bias) pairs
// of linear layers chaining 3 -> ... -> 1 (or 4: value and colour), weights stored either
// as nn.Linear does ([out, in]) or transposed ([in, out], for addmm(b, x, w)); and when its
// forward(), run in float32 on the CPU on probe points spread over the field's bounds,
// equals Linear -> ReLU -> ... -> Linear with those weights. The check is what makes this
// safe: a module with skip connections, other activations or extra inputs simply fails it
// and keeps the LibTorch path. Any thread; the module is not changed.
#ifndef KILN_WORKER_TORCH_PLAIN_MLP_H_
#define KILN_WORKER_TORCH_PLAIN_MLP_H_

#include <torch/script.h>

#include <array>

#include "absl/status/statusor.h"
#include "worker/fieldnet/mlp_weights.h"

namespace kiln::torchrt {

// The module's weights when it is a plain ReLU MLP field network over the box
// `bounds` (min xyz, max xyz); FailedPrecondition saying why not otherwise.
absl::StatusOr<fieldnet::MlpWeights> ExtractPlainMlp(const torch::jit::Module& module,
                                                     const std::array<double, 6>& bounds);

}  // namespace kiln::torchrt

#endif  // KILN_WORKER_TORCH_PLAIN_MLP_H_
