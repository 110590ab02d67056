#include "worker/exec/executor.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <iostream>
#include <optional>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/device_features.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "worker/exec/frame_io.h"

namespace kiln::exec {

using kiln::v1::ExecEvent;
using kiln::v1::ExecProgress;
using kiln::v1::ExecRequest;
using kiln::v1::ExecResult;
using kiln::v1::RunTaskRequest;

bool IsPermanentTaskError(const absl::Status& status) {
  return absl::IsInvalidArgument(status) || absl::IsNotFound(status) ||
         absl::IsFailedPrecondition(status) || absl::IsUnimplemented(status);
}

bool IsDeviceCannotRunError(std::string_view message) {
  std::string lower(message);
  absl::AsciiStrToLower(&lower);
  const auto has = [&](std::string_view what) { return lower.find(what) != std::string::npos; };
  if (has("no kernel image") || has("invalid device function") || has("illegal instruction")) {
    return true;
  }
  // Out of memory is the device's fault only while loading (a model that does not
  // fit); later it is the job's own size, which uses an attempt like any error.
  return has("out of memory") && has("load");
}

kiln::v1::Device ToProtoDevice(const device::DeviceProbe& probe) {
  kiln::v1::Device device;
  device.set_name(probe.name);
  device.set_compute_capability(probe.compute_capability);
  device.set_total_memory_bytes(probe.total_memory_bytes);
  device.set_free_memory_bytes(probe.free_memory_bytes);
  device.set_runnable(probe.runnable);
  if (!probe.runnable) device.set_unrunnable_reason(probe.unrunnable_reason);
  for (const std::string& feature : FeaturesForComputeCapability(probe.compute_capability)) {
    device.add_features(feature);
  }
  for (const std::string& arch : probe.kernel_sass) device.add_kernel_sass(arch);
  for (const std::string& arch : probe.kernel_ptx) device.add_kernel_ptx(arch);
  // torch_archs stays empty: this executor has no LibTorch.
  device.set_driver_version(probe.driver_version);
  device.set_runtime_version(probe.runtime_version);
  return device;
}

Executor::Executor(const ExecutorOptions& options)
    : registry_(options.registry ? *options.registry : tasks::TaskRegistry::Builtin()),
      progress_interval_(options.progress_interval),
      clock_(options.clock ? *options.clock : *Clock::Real()),
      devices_(options.devices),
      models_(options.models),
      loaded_models_(options.loaded_models) {}

kiln::v1::ExecReady Executor::Ready() const {
  kiln::v1::ExecReady ready;
  for (const std::string& kind : registry_.Kinds()) ready.add_tasks(kind);
  ready.set_pid(static_cast<int32_t>(::getpid()));
  for (const device::DeviceProbe& probe : devices_) *ready.add_devices() = ToProtoDevice(probe);
  for (const kiln::v1::ModelAvailability& model : models_) *ready.add_models() = model;
  return ready;
}

ExecResult Executor::RunTask(const RunTaskRequest& request,
                             const std::function<void(const ExecProgress&)>& on_progress,
                             const ChildSubmitter& submit_children) {
  ExecResult result = RunTaskUnreported(request, on_progress, submit_children);
  if (loaded_models_) {
    for (std::string& key : loaded_models_()) result.add_loaded_models(std::move(key));
  }
  return result;
}

ExecResult Executor::RunTaskUnreported(const RunTaskRequest& request,
                                       const std::function<void(const ExecProgress&)>& on_progress,
                                       const ChildSubmitter& submit_children) {
  ExecResult result;
  const tasks::Task* task = registry_.Find(request.task());
  if (task == nullptr) {
    result.set_error(absl::StrCat("unknown task \"", request.task(), "\""));
    result.set_permanent(true);
    return result;
  }
  // The device the task would use (ordinal 0). The scheduler does not place work on a
  // device advertised as not runnable; this catches a verdict that changed since.
  if (!devices_.empty() && !devices_[0].runnable) {
    result.set_error(absl::StrCat("device ", devices_[0].name,
                                  " is not runnable: ", devices_[0].unrunnable_reason));
    result.set_device_cannot_run(true);
    return result;
  }
  if (!devices_.empty() && devices_[0].fake_cannot_run) {
    result.set_error(
        "CUDA error: no kernel image is available for execution on the device (simulated)");
    result.set_device_cannot_run(true);
    return result;
  }

  // Rate limit: forward at once if the interval has passed, else keep the newest as
  // pending and flush it before the result so the worker always sees the last one.
  std::optional<absl::Time> last_sent;
  std::optional<ExecProgress> pending;
  tasks::TaskContext context;
  context.request = &request;
  context.report_progress = [&](double fraction, std::string_view message) {
    ExecProgress progress;
    progress.set_fraction(fraction);
    progress.set_message(std::string(message));
    const absl::Time now = clock_.Now();
    if (!last_sent || now - *last_sent >= progress_interval_) {
      last_sent = now;
      pending.reset();
      on_progress(progress);
    } else {
      pending = std::move(progress);
    }
  };

  if (submit_children) {
    context.submit_children = [&](std::string_view call_id,
                                  const std::vector<kiln::v1::ExecChildSpec>& children) {
      // What the task reported so far reaches the worker before it blocks.
      if (pending) {
        on_progress(*pending);
        pending.reset();
      }
      return submit_children(call_id, children);
    };
  }

  absl::StatusOr<tasks::TaskOutput> output;
  try {
    output = task->Run(context);
  } catch (const std::exception& e) {
    output = absl::InternalError(absl::StrCat("task threw an exception: ", e.what()));
  } catch (...) {
    output = absl::InternalError("task threw a non-standard exception");
  }
  if (pending) on_progress(*pending);
  // stdout goes to the slot log through a buffer: flush it before the result, so that the
  // worker's copy of this attempt's log (taken when the result arrives) holds all of it.
  std::fflush(nullptr);
  std::cout.flush();

  if (!output.ok()) {
    result.set_error(std::string(output.status().ToString()));
    if (IsDeviceCannotRunError(result.error())) {
      result.set_device_cannot_run(true);  // Another device may run it: never permanent.
    } else {
      result.set_permanent(IsPermanentTaskError(output.status()));
    }
    return result;
  }
  result.set_ok(true);
  for (auto& file : output->outputs) *result.add_outputs() = std::move(file);
  *result.mutable_summary() = std::move(output->summary);
  return result;
}

absl::Status Executor::Serve(int in_fd, int out_fd) {
  ExecEvent ready_event;
  *ready_event.mutable_ready() = Ready();
  KILN_RETURN_IF_ERROR(WriteFrame(out_fd, ready_event));

  absl::Status write_status;
  for (;;) {
    ExecRequest request;
    absl::Status status = ReadFrame(in_fd, &request);
    if (IsEndOfStream(status)) return absl::OkStatus();
    KILN_RETURN_IF_ERROR(status);
    if (request.request_case() != ExecRequest::kRun) {
      KILN_LOG(WARNING) << "ignoring an ExecRequest with no known request";
      continue;
    }
    const RunTaskRequest& run = request.run();
    KILN_LOG(INFO) << "job " << run.job_id() << " attempt " << run.attempt() << ": running task "
                   << run.task();
    const absl::Time start = clock_.Now();
    // Child submission: one ExecSubmitChildren out, then the matching answer in; any other
    // request while a task runs breaks the protocol (the worker sends nothing else then).
    const ChildSubmitter submit_children = [&](std::string_view call_id,
                                               const std::vector<kiln::v1::ExecChildSpec>& children)
        -> absl::StatusOr<std::vector<std::string>> {
      if (!write_status.ok()) return write_status;
      ExecEvent event;
      kiln::v1::ExecSubmitChildren& submit = *event.mutable_submit_children();
      submit.set_call_id(std::string(call_id));
      for (const kiln::v1::ExecChildSpec& child : children) *submit.add_children() = child;
      write_status = WriteFrame(out_fd, event);
      if (!write_status.ok()) return write_status;
      ExecRequest answer;
      absl::Status read = ReadFrame(in_fd, &answer);
      if (read.ok() && (answer.request_case() != ExecRequest::kChildren ||
                        answer.children().call_id() != call_id)) {
        read = absl::DataLossError(
            absl::StrCat("expected the answer to ExecSubmitChildren ", std::string(call_id)));
      }
      if (!read.ok()) {
        write_status = read;  // The stream is out of step: Serve ends after this task.
        return absl::UnavailableError(absl::StrCat("submitting children: ", read.message()));
      }
      const kiln::v1::ExecChildrenResult& result = answer.children();
      if (!result.ok()) {
        const absl::StatusCode code = result.code() > 0 && result.code() <= 16
                                          ? static_cast<absl::StatusCode>(result.code())
                                          : absl::StatusCode::kUnknown;
        return absl::Status(code, result.error());
      }
      if (result.job_ids_size() != static_cast<int>(children.size())) {
        return absl::InternalError(absl::StrCat("submitted ", children.size(),
                                                " children, the worker returned ",
                                                result.job_ids_size(), " ids"));
      }
      return std::vector<std::string>(result.job_ids().begin(), result.job_ids().end());
    };
    ExecResult result = RunTask(
        run,
        [&](const ExecProgress& progress) {
          if (!write_status.ok()) return;
          ExecEvent event;
          *event.mutable_progress() = progress;
          write_status = WriteFrame(out_fd, event);
        },
        submit_children);
    KILN_RETURN_IF_ERROR(write_status);
    KILN_LOG(INFO) << "job " << run.job_id() << " attempt " << run.attempt() << ": "
                   << (result.ok() ? "ok" : "failed: " + result.error())
                   << (result.device_cannot_run() ? " (device cannot run it)" : "") << " after "
                   << absl::FormatDuration(clock_.Now() - start);
    ExecEvent event;
    *event.mutable_result() = std::move(result);
    KILN_RETURN_IF_ERROR(WriteFrame(out_fd, event));
  }
}

}  // namespace kiln::exec
