// kiln-exec: the executor process. kiln-worker starts one per slot and speaks
// kiln/v1/executor.proto with it: ExecRequest frames on stdin, ExecEvent frames on
// stdout. Exits 0 when stdin closes. Not meant to be run by hand.
//   kiln-exec [--fake-devices=SPEC] [--model-repo=DIR]
//                                     serve tasks; ExecReady lists the probed devices
//                                     and the repository's models this device can run
//   kiln-exec ... [--torch-threads=N]  LibTorch's intra-op threads (default: all CPUs
//                                     this process may use)
//   kiln-exec --probe [--fake-devices=SPEC] [--model-repo=DIR]
//                                     write one ExecReady frame (with the devices this
//                                     process sees, self-tested) to stdout and exit 0
// SPEC replaces the CUDA calls with simulated devices (see worker/device/device_probe.h),
// e.g. "sm_120:32GiB,sm_90:80GiB:nokernel,sm_86:24GiB:cannot-run", or a file of them.
// Both modes honour CUDA_VISIBLE_DEVICES. Exit status 2: bad flags, device spec or
// model repository. Exec-runtime models (models/exec_runtime.h) run as model.run; their
// probe commands run once at start.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "common/log.h"
#include "models/exec_probe.h"
#include "models/model_repository.h"
#include "models/model_run_task.h"
#include "worker/device/device_probe.h"
#include "worker/exec/executor.h"
#include "worker/exec/frame_io.h"
#include "worker/render/render_preview_task.h"
#include "worker/tasks/mesh_extract_task.h"
#if KILN_HAVE_OCCT
#include "worker/cad/cad_build_task.h"
#include "worker/cad/step_mesh.h"
#include "worker/tasks/meshio/mesh_convert_task.h"
#endif
#if KILN_HAVE_TORCH
#include "worker/torch/field_decode_task.h"
#include "worker/torch/model_cache.h"
#include "worker/torch/torch_device.h"
#endif

namespace {

constexpr char kUsage[] =
    "usage: kiln-exec [--probe] [--fake-devices=SPEC] [--model-repo=DIR] [--torch-threads=N]\n";

struct Flags {
  bool probe = false;
  std::string fake_devices;
  std::string model_repo;
  // LibTorch's intra-op threads; 0: the CPUs this process may use.
  int torch_threads = 0;
};

// Hand-parsed: two flags do not justify absl::flags in the compute-only build.
bool ParseFlags(int argc, char** argv, Flags* flags) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--probe") {
      flags->probe = true;
    } else if (arg.starts_with("--fake-devices=") || arg.starts_with("--fake_devices=")) {
      flags->fake_devices = std::string(arg.substr(std::strlen("--fake-devices=")));
    } else if (arg.starts_with("--model-repo=") || arg.starts_with("--model_repo=")) {
      flags->model_repo = std::string(arg.substr(std::strlen("--model-repo=")));
    } else if (arg.starts_with("--torch-threads=") || arg.starts_with("--torch_threads=")) {
      const std::string value(arg.substr(std::strlen("--torch-threads=")));
      char* end = nullptr;
      const long threads = std::strtol(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || threads < 0 || threads > 4096) {
        std::fprintf(stderr,
                     "kiln-exec: --torch-threads: must be an integer 0..4096 (got \"%s\")\n",
                     value.c_str());
        return false;
      }
      flags->torch_threads = static_cast<int>(threads);
    } else {
      std::fprintf(stderr, "kiln-exec: unknown argument \"%s\"\n%s", argv[i], kUsage);
      return false;
    }
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  if (!ParseFlags(argc, argv, &flags)) return 2;

  // The protocol gets a private dup of stdout, and fd 1 becomes stderr, so stray prints
  // from libraries (printf, std::cout) land in the slot log instead of corrupting frames.
  const int events_fd = ::fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
  if (events_fd < 0 || ::dup2(STDERR_FILENO, STDOUT_FILENO) < 0) {
    std::perror("kiln-exec: cannot set up the event stream");
    return 1;
  }
  // A vanished worker shows up as EPIPE from write(), not as a signal.
  ::signal(SIGPIPE, SIG_IGN);

  kiln::device::ProbeOptions probe_options;
  probe_options.fake_devices = flags.fake_devices;
  kiln::device::ProbeReport report = kiln::device::ProbeDevices(probe_options);
  if (report.invalid_options) {
    std::fprintf(stderr, "kiln-exec: --fake-devices: %s\n", report.error.c_str());
    return 2;
  }
  if (!report.error.empty()) KILN_LOG(INFO) << "kiln-exec: no GPU: " << report.error;
  for (const kiln::device::DeviceProbe& d : report.devices) {
    KILN_LOG(INFO) << "kiln-exec: device " << d.ordinal << ": " << d.name << ", "
                   << kiln::device::SmName(d.compute_capability) << ", "
                   << (d.runnable ? "runnable" : "not runnable: " + d.unrunnable_reason);
  }

  std::unique_ptr<kiln::models::ModelRepository> repository =
      kiln::models::ModelRepository::Empty();
  if (!flags.model_repo.empty()) {
    auto opened = kiln::models::ModelRepository::Open({.root = flags.model_repo});
    if (!opened.ok()) {
      std::fprintf(stderr, "kiln-exec: --model-repo: %s\n", opened.status().ToString().c_str());
      return 2;
    }
    repository = *std::move(opened);
    for (const std::string& problem : repository->problems()) {
      KILN_LOG(WARNING) << "kiln-exec: model repository: skipped " << problem;
    }
  }
  std::unique_ptr<kiln::tasks::TaskRegistry> registry = kiln::tasks::TaskRegistry::NewBuiltin();
  kiln::models::ModelRunTaskOptions model_run;
  model_run.repository = repository.get();
  registry->Add(std::make_unique<kiln::models::ModelRunTask>(std::move(model_run)));
  // mesh.extract's marching cubes on this slot's GPU (device 0) when it is real and
  // runnable; kiln_tasks falls back to the CPU path where it was built without CUDA.
  if (!report.devices.empty() && report.devices[0].runnable && !report.devices[0].simulated) {
    kiln::tasks::MeshExtractTaskOptions mesh_extract;
    mesh_extract.limits = kiln::TaskLimits::Ceiling();
    mesh_extract.cuda_device = 0;
    registry->Add(std::make_unique<kiln::tasks::MeshExtractTask>(mesh_extract));
    // render.preview's frames on the same GPU (CPU fallback inside when it cannot).
    registry->Add(std::make_unique<kiln::render::RenderPreviewTask>(
        kiln::render::RenderPreviewTaskOptions{.cuda_device = 0}));
  }

#if KILN_HAVE_OCCT
  // OpenCASCADE: cad.build, and STEP files for mesh.convert (replacing the built-in one,
  // which has no STEP).
  registry->Add(std::make_unique<kiln::cad::CadBuildTask>());
  kiln::tasks::MeshConvertTaskOptions mesh_convert;
  mesh_convert.read_step = [](const std::string& path) { return kiln::cad::ReadStepMesh(path); };
  mesh_convert.write_step = [](const kiln::tasks::Mesh& mesh, const std::string& path) {
    return kiln::cad::WriteStepMesh(mesh, path);
  };
  registry->Add(std::make_unique<kiln::tasks::MeshConvertTask>(std::move(mesh_convert)));
#endif

  kiln::exec::ExecutorOptions options;
  options.registry = registry.get();
  // TorchScript models: field.decode with LibTorch on this executor's device, models kept
  // resident across tasks in a cache.
#if KILN_HAVE_TORCH
  kiln::torchrt::SetTorchThreads(flags.torch_threads);
  std::vector<kiln::v1::Device> proto_devices;
  for (const kiln::device::DeviceProbe& d : report.devices) {
    proto_devices.push_back(kiln::exec::ToProtoDevice(d));
  }
  const kiln::torchrt::TorchDevice torch_device = kiln::torchrt::SelectTorchDevice(proto_devices);
  if (!torch_device.unavailable_reason.empty()) {
    KILN_LOG(WARNING) << "kiln-exec: LibTorch cannot run on " << torch_device.device.str() << ": "
                      << torch_device.unavailable_reason;
  }
  auto model_cache = kiln::torchrt::ModelCache::Create(
      {.device = torch_device.device,
       .device_memory_bytes = torch_device.description.total_memory_bytes()});
  if (!model_cache.ok()) {
    std::fprintf(stderr, "kiln-exec: model cache: %s\n", model_cache.status().ToString().c_str());
    return 2;
  }
  registry->Add(
      std::make_unique<kiln::torchrt::FieldDecodeTask>(kiln::torchrt::FieldDecodeTaskOptions{
          .repository = repository.get(), .cache = model_cache->get(), .device = torch_device}));
  for (kiln::v1::ModelAvailability& model :
       kiln::torchrt::TorchscriptModelAvailability(*repository, torch_device)) {
    options.models.push_back(std::move(model));
  }
  options.loaded_models = [cache = model_cache->get()] { return cache->ResidentModelKeys(); };
#else
  for (const kiln::models::ModelEntry& entry : repository->models()) {
    if (entry.manifest.runtime() != kiln::v1::MODEL_RUNTIME_TORCHSCRIPT) continue;
    kiln::v1::ModelAvailability& model = options.models.emplace_back();
    model.set_name(entry.manifest.name());
    model.set_version(entry.manifest.version());
    model.set_runtime("torchscript");
    model.set_unavailable_reason("this kiln-exec was built without LibTorch");
  }
#endif
  // Exec-runtime models: their probe commands say which devices they cover.
  for (kiln::v1::ModelAvailability& model :
       kiln::models::ExecModelAvailabilities(*repository, report.devices, {})) {
    options.models.push_back(std::move(model));
  }
  options.devices = std::move(report.devices);
  kiln::exec::Executor executor(options);
  if (flags.probe) {
    kiln::v1::ExecEvent event;
    *event.mutable_ready() = executor.Ready();
    const absl::Status status = kiln::exec::WriteFrame(events_fd, event);
    if (!status.ok()) {
      KILN_LOG(ERROR) << "kiln-exec --probe: " << status;
      return 1;
    }
    return 0;
  }

  KILN_LOG(INFO) << "kiln-exec " << ::getpid() << " ready";
  const absl::Status status = executor.Serve(STDIN_FILENO, events_fd);
  if (!status.ok()) {
    KILN_LOG(ERROR) << "kiln-exec exiting: " << status;
    return 2;
  }
  return 0;
}
