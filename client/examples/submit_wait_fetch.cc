// submit_wait_fetch: the smallest useful program on the Kiln C++ SDK. It submits a
// mesh.extract job (a sphere), waits for it, and downloads its outputs into a folder.
//
//   submit_wait_fetch --addr 127.0.0.1:7070 --out /tmp/meshes [--resolution 48]
//
// Prints one downloaded path per line on stdout and the job's result summary (JSON) on
// stderr. Exit status: 0 the job succeeded and its outputs were downloaded, 1 an error,
// 2 bad arguments, 4 the job failed or was cancelled. Built in the tree (target
// kiln_example_submit_wait_fetch) and, by tests/sdk_consumer, against an installed SDK.
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "client/kiln_client.h"
#include "google/protobuf/util/json_util.h"

namespace {

constexpr char kUsage[] =
    "Usage: submit_wait_fetch --addr HOST:PORT --out DIR [--resolution N] [--token TOKEN]\n"
    "Submits mesh.extract on a sphere to a Kiln scheduler, waits for it and downloads its\n"
    "outputs into DIR. --addr defaults to $KILN_ADDR; --token to $KILN_TOKEN.\n";

struct Args {
  std::string address;
  std::string token;
  std::string out_dir;
  int resolution = 48;
};

// Returns 0 to go on, otherwise the exit status (help: 0 after printing; errors: 2).
int ParseArgs(int argc, char** argv, Args& args, bool& exit_now) {
  exit_now = false;
  if (const char* env = std::getenv("KILN_ADDR")) args.address = env;
  if (const char* env = std::getenv("KILN_TOKEN")) args.token = env;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::cout << kUsage;
      exit_now = true;
      return 0;
    }
    if (i + 1 >= argc) {
      std::cerr << "submit_wait_fetch: " << flag << " needs a value\n" << kUsage;
      exit_now = true;
      return 2;
    }
    const std::string value = argv[++i];
    if (flag == "--addr") {
      args.address = value;
    } else if (flag == "--token") {
      args.token = value;
    } else if (flag == "--out") {
      args.out_dir = value;
    } else if (flag == "--resolution") {
      if (!absl::SimpleAtoi(value, &args.resolution) || args.resolution < 2) {
        std::cerr << "submit_wait_fetch: --resolution \"" << value
                  << "\": expected an integer >= 2\n";
        exit_now = true;
        return 2;
      }
    } else {
      std::cerr << "submit_wait_fetch: unknown flag " << flag << "\n" << kUsage;
      exit_now = true;
      return 2;
    }
  }
  if (args.address.empty() || args.out_dir.empty()) {
    std::cerr << "submit_wait_fetch: --addr (or KILN_ADDR) and --out are required\n" << kUsage;
    exit_now = true;
    return 2;
  }
  return 0;
}

int Fail(const absl::Status& status) {
  std::cerr << "submit_wait_fetch: " << status << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  bool exit_now = false;
  const int parse_code = ParseArgs(argc, argv, args, exit_now);
  if (exit_now) return parse_code;

  kiln::ClientOptions options;
  options.address = args.address;
  options.token = args.token;
  absl::StatusOr<std::unique_ptr<kiln::Client>> client = kiln::Client::Create(options);
  if (!client.ok()) return Fail(client.status());

  kiln::v1::JobSpec spec;
  spec.set_task("mesh.extract");
  const std::string parameters = absl::StrCat(
      R"({"shape": {"type": "sphere", "radius": 1}, "resolution": )", args.resolution, "}");
  if (!google::protobuf::util::JsonStringToMessage(parameters, spec.mutable_parameters()).ok()) {
    return Fail(absl::InternalError("cannot build the job's parameters"));
  }
  absl::StatusOr<kiln::v1::Job> job = (*client)->Submit(spec);
  if (!job.ok()) return Fail(job.status());
  std::cerr << "submitted " << job->id() << "\n";

  job = (*client)->Wait(job->id(), absl::Minutes(10));
  if (!job.ok()) return Fail(job.status());
  if (job->state() != kiln::v1::JOB_STATE_SUCCEEDED) {
    std::cerr << "submit_wait_fetch: job " << job->id() << " ended "
              << kiln::v1::JobState_Name(job->state()) << ": " << job->status_message() << "\n";
    return 4;
  }

  std::error_code error;
  std::filesystem::create_directories(args.out_dir, error);
  if (error) return Fail(absl::InternalError("cannot create " + args.out_dir));
  for (const kiln::v1::BlobRef& out : job->outputs()) {
    // Only the base name: an output name never chooses where the file goes.
    const std::string path =
        (std::filesystem::path(args.out_dir) / std::filesystem::path(out.name()).filename())
            .string();
    if (absl::Status s = (*client)->DownloadBlob(out.sha256(), path); !s.ok()) return Fail(s);
    std::cout << path << "\n";
  }
  std::string summary;
  if (!google::protobuf::util::MessageToJsonString(job->result(), &summary).ok()) summary = "{}";
  std::cerr << "result " << summary << "\n";
  return 0;
}
