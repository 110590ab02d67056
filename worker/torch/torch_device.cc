#include "worker/torch/torch_device.h"

#include <sched.h>

#include <filesystem>
#include <string_view>
#include <system_error>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "models/model_tier.h"

namespace kiln::torchrt {
namespace {

std::string FirstLine(std::string_view what) {
  return std::string(what.substr(0, what.find('\n')));
}

}  // namespace

std::string TorchSelfTest(const torch::Device& device, bool try_bfloat16) {
  try {
    torch::NoGradGuard no_grad;
    const torch::Tensor a = torch::linspace(-1, 1, 64).reshape({8, 8});
    const torch::Tensor b = torch::eye(8) * 2;
    const torch::Tensor want = torch::relu(torch::matmul(a, b));
    const torch::Tensor got =
        torch::relu(torch::matmul(a.to(device), b.to(device))).to(torch::kCPU);
    if (!torch::allclose(got, want, 1e-5, 1e-5)) return "a LibTorch matmul gave a wrong result";
    if (try_bfloat16) {
      const torch::Tensor half =
          torch::relu(torch::matmul(a.to(device, torch::kBFloat16), b.to(device, torch::kBFloat16)))
              .to(torch::kCPU, torch::kFloat32);
      if (!torch::allclose(half, want, 1e-2, 1e-2)) {
        return "a LibTorch bfloat16 matmul gave a wrong result";
      }
    }
  } catch (const c10::Error& e) {
    return absl::StrCat("LibTorch self-test on ", device.str(),
                        " failed: ", FirstLine(e.what_without_backtrace()));
  } catch (const std::exception& e) {
    return absl::StrCat("LibTorch self-test on ", device.str(), " failed: ", FirstLine(e.what()));
  }
  return "";
}

TorchDevice SelectTorchDevice(const std::vector<kiln::v1::Device>& devices) {
  TorchDevice selected;
  if (devices.empty()) {
    selected.description.set_id("cpu");
    selected.description.set_name("cpu");
    selected.unavailable_reason = TorchSelfTest(selected.device, /*try_bfloat16=*/false);
    return selected;
  }
  // A GPU slot: its executor sees its GPU as device 0.
  selected.description = devices[0];
  selected.description.set_id("cuda:0");
  selected.device = torch::Device(torch::kCUDA, 0);
  if (!devices[0].runnable()) {
    selected.unavailable_reason =
        absl::StrCat("device is not runnable: ", devices[0].unrunnable_reason());
  } else if (!torch::cuda::is_available() || torch::cuda::device_count() < 1) {
    selected.unavailable_reason = "the LibTorch in this kiln-exec has no CUDA or sees no GPU";
  } else {
    selected.unavailable_reason =
        TorchSelfTest(selected.device, devices[0].compute_capability() >= 80);
  }
  return selected;
}

void SetTorchThreads(int threads) {
  if (threads <= 0) {
    cpu_set_t set;
    threads = ::sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set)
                                                             : std::thread::hardware_concurrency();
    if (threads <= 0) threads = 1;
  }
  torch::set_num_threads(threads);
  KILN_LOG(INFO) << "LibTorch intra-op threads: " << torch::get_num_threads();
}

std::vector<kiln::v1::ModelAvailability> TorchscriptModelAvailability(
    const models::ModelRepository& repository, const TorchDevice& device) {
  std::vector<kiln::v1::ModelAvailability> result;
  for (const models::ModelEntry& entry : repository.models()) {
    if (entry.manifest.runtime() != kiln::v1::MODEL_RUNTIME_TORCHSCRIPT) continue;
    kiln::v1::ModelAvailability& a = result.emplace_back();
    a.set_name(entry.manifest.name());
    a.set_version(entry.manifest.version());
    a.set_runtime(models::RuntimeName(entry.manifest.runtime()));
    std::error_code error;
    const std::filesystem::path file = entry.dir / entry.manifest.file();
    if (!device.unavailable_reason.empty()) {
      a.set_unavailable_reason(device.unavailable_reason);
    } else if (absl::StatusOr<models::ModelTierChoice> tier =
                   models::SelectModelTier(entry.manifest, device.description);
               !tier.ok()) {
      a.set_unavailable_reason(std::string(tier.status().message()));
    } else if (!std::filesystem::is_regular_file(file, error)) {
      a.set_unavailable_reason(absl::StrCat("TorchScript file ", file.string(), " not found"));
    }
  }
  return result;
}

}  // namespace kiln::torchrt
