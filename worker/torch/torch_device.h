// The LibTorch side of one kiln-exec: which torch::Device its tasks use (the slot's GPU,
// seen as cuda:0 after CUDA_VISIBLE_DEVICES, or the CPU), LibTorch's thread count, a
// self-test of a LibTorch op on that device, and which TorchScript models of the
// repository this executor can run there (ExecReady.models).
// Called from kiln-exec's main thread at start; the results are plain values.
#ifndef KILN_WORKER_TORCH_TORCH_DEVICE_H_
#define KILN_WORKER_TORCH_TORCH_DEVICE_H_

#include <torch/torch.h>

#include <string>
#include <vector>

#include "kiln/v1/capability.pb.h"
#include "models/model_repository.h"

namespace kiln::torchrt {

struct TorchDevice {
  torch::Device device = torch::kCPU;
  // The executor's view of it: compute_capability 0 and id "cpu" for the CPU.
  kiln::v1::Device description;
  // Why LibTorch cannot run on it (no CUDA in this LibTorch, the self-test failed, the
  // device is not runnable); empty when it can.
  std::string unavailable_reason;
};

// The device a task uses: the executor's device 0 when it has GPUs (a GPU slot), else
// the CPU. Runs TorchSelfTest on it.
TorchDevice SelectTorchDevice(const std::vector<kiln::v1::Device>& devices);

// A small matmul+relu on `device` in float32 (and bfloat16 where the device has it)
// checked against the CPU; empty when it ran right, otherwise what went wrong, e.g.
// LibTorch's "no kernel image is available" for an architecture it was not built for.
std::string TorchSelfTest(const torch::Device& device, bool try_bfloat16);

// LibTorch's intra-op threads: `threads`, or the CPUs this process may use when 0.
// Debian's LibTorch otherwise runs on one thread.
void SetTorchThreads(int threads);

// ModelAvailability for each torchscript model of `repository` on `device`: runnable
// (empty reason) when LibTorch runs there, a manifest tier admits the device and the
// archive exists. Other runtimes are left to their own runtimes.
std::vector<kiln::v1::ModelAvailability> TorchscriptModelAvailability(
    const models::ModelRepository& repository, const TorchDevice& device);

}  // namespace kiln::torchrt

#endif  // KILN_WORKER_TORCH_TORCH_DEVICE_H_
