#include "client/kilnctl_format.h"

#include "common/proto_time.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"

namespace kiln::kilnctl {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const absl::Time kNow = absl::FromUnixSeconds(1'700'000'000);

v1::Job RunningJob() {
  v1::Job job;
  job.set_id("j-00000000000000a1");
  job.mutable_spec()->set_task("mesh.extract");
  job.mutable_spec()->set_max_attempts(3);
  job.set_state(v1::JOB_STATE_RUNNING);
  *job.mutable_created_at() = ToProtoTime(kNow - absl::Seconds(95));
  *job.mutable_updated_at() = ToProtoTime(kNow - absl::Seconds(5));
  job.set_progress(0.427);
  job.set_progress_message("meshing");
  v1::Attempt* a = job.add_attempts();
  a->set_number(1);
  a->set_worker_id("w-gpu-1");
  a->set_slot(0);
  a->set_device("cuda:0");
  *a->mutable_assigned_at() = ToProtoTime(kNow - absl::Seconds(90));
  return job;
}

TEST(ExitCodeTest, MapsStatuses) {
  EXPECT_EQ(ExitCodeForStatus(absl::OkStatus()), 0);
  EXPECT_EQ(ExitCodeForStatus(absl::InternalError("x")), 1);
  EXPECT_EQ(ExitCodeForStatus(absl::FailedPreconditionError("x")), 1);
  EXPECT_EQ(ExitCodeForStatus(absl::InvalidArgumentError("x")), 2);
  EXPECT_EQ(ExitCodeForStatus(absl::NotFoundError("x")), 3);
  EXPECT_EQ(ExitCodeForStatus(absl::UnavailableError("x")), 6);
  EXPECT_EQ(ExitCodeForStatus(absl::DeadlineExceededError("x")), 6);
  EXPECT_EQ(ExitCodeForWaitStatus(absl::DeadlineExceededError("x")), 7);
  EXPECT_EQ(ExitCodeForWaitStatus(absl::UnavailableError("x")), 6);
  EXPECT_EQ(ExitCodeForWaitStatus(absl::NotFoundError("x")), 3);
}

TEST(ExitCodeTest, MapsJobStates) {
  EXPECT_EQ(ExitCodeForJobState(v1::JOB_STATE_SUCCEEDED), 0);
  EXPECT_EQ(ExitCodeForJobState(v1::JOB_STATE_FAILED), 4);
  EXPECT_EQ(ExitCodeForJobState(v1::JOB_STATE_CANCELLED), 5);
  EXPECT_EQ(ExitCodeForJobState(v1::JOB_STATE_RUNNING), 0);
  EXPECT_TRUE(IsTerminal(v1::JOB_STATE_CANCELLED));
  EXPECT_FALSE(IsTerminal(v1::JOB_STATE_ASSIGNED));
}

TEST(NamesTest, ShortLowerCaseEnumNames) {
  EXPECT_EQ(JobStateName(v1::JOB_STATE_SUCCEEDED), "succeeded");
  EXPECT_EQ(JobStateName(v1::JOB_STATE_UNSPECIFIED), "unknown");
  EXPECT_EQ(ExitReasonName(v1::EXIT_REASON_EXECUTOR_CRASH), "executor_crash");
  EXPECT_EQ(ExitReasonName(v1::EXIT_REASON_UNSPECIFIED), "-");
  EXPECT_EQ(AcceleratorName(v1::ACCELERATOR_GPU), "gpu");
  EXPECT_EQ(AcceleratorName(v1::ACCELERATOR_UNSPECIFIED), "any");
}

TEST(FormatTest, AgesBytesAndCapabilities) {
  EXPECT_EQ(FormatAge(kNow - absl::Seconds(42), kNow), "42s");
  EXPECT_EQ(FormatAge(kNow - absl::Minutes(7), kNow), "7m");
  EXPECT_EQ(FormatAge(kNow - absl::Hours(5), kNow), "5h");
  EXPECT_EQ(FormatAge(kNow - absl::Hours(72), kNow), "3d");
  EXPECT_EQ(FormatAge(kNow + absl::Seconds(3), kNow), "0s");  // Clock skew.
  EXPECT_EQ(FormatAge(absl::UnixEpoch(), kNow), "-");
  EXPECT_EQ(FormatBytes(512), "512 B");
  EXPECT_EQ(FormatBytes(1536), "1.5 KiB");
  EXPECT_EQ(FormatBytes(int64_t{24} << 30), "24.0 GiB");
  EXPECT_EQ(FormatComputeCapability(86), "8.6");
  EXPECT_EQ(FormatComputeCapability(120), "12.0");
  EXPECT_EQ(FormatComputeCapability(0), "-");
}

TEST(FormatTest, ProgressOnlyWhereItMeansSomething) {
  v1::Job job = RunningJob();
  EXPECT_EQ(FormatProgress(job), "42%");
  job.set_state(v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(FormatProgress(job), "100%");
  job.set_state(v1::JOB_STATE_QUEUED);
  EXPECT_EQ(FormatProgress(job), "-");
}

TEST(FormatTableTest, PadsColumnsWithoutTrailingSpaces) {
  EXPECT_EQ(FormatTable({"A", "LONGER", "C"}, {{"xxxx", "y", ""}, {"z", "", "end"}}),
            "A      LONGER   C\n"
            "xxxx   y\n"
            "z               end\n");
}

TEST(FormatTableTest, JobsTable) {
  v1::Job queued;
  queued.set_id("j-00000000000000b2");
  queued.mutable_spec()->set_task("render.preview");
  queued.set_state(v1::JOB_STATE_QUEUED);
  *queued.mutable_created_at() = ToProtoTime(kNow - absl::Hours(3));
  EXPECT_EQ(FormatJobsTable({RunningJob(), queued}, kNow),
            "ID                   TASK             STATE     ATTEMPTS   PROGRESS   AGE   WORKER\n"
            "j-00000000000000a1   mesh.extract     running   1/3        42%        95s   w-gpu-1\n"
            "j-00000000000000b2   render.preview   queued    0          -          3h    -\n");
}

TEST(FormatTableTest, WorkersTable) {
  v1::WorkerInfo worker;
  worker.set_id("w-1");
  worker.mutable_capabilities()->set_hostname("gpu-box");
  worker.mutable_capabilities()->add_slots()->set_index(0);
  worker.mutable_capabilities()->add_slots()->set_index(1);
  v1::Device* gpu = worker.mutable_capabilities()->add_devices();
  gpu->set_id("cuda:0");
  gpu->set_compute_capability(90);
  gpu->set_total_memory_bytes(int64_t{80} << 30);
  gpu->set_runnable(true);
  v1::Device* cpu = worker.mutable_capabilities()->add_devices();
  cpu->set_id("cpu");
  cpu->set_runnable(false);
  worker.add_job_ids("j-1");
  *worker.mutable_last_seen_at() = ToProtoTime(kNow - absl::Seconds(2));
  EXPECT_EQ(FormatWorkersTable({worker}, kNow),
            "ID    HOST      SLOTS   DEVICES                    LAST SEEN   JOBS   STATUS\n"
            "w-1   gpu-box   2       cuda:0(9.0,80.0GiB),cpu!   2s          1      ready\n");
}

TEST(DescribeJobTest, ShowsTiersAndTheTierEachAttemptRan) {
  v1::Job job;
  job.set_id("j-00000000000000b2");
  job.set_state(v1::JOB_STATE_SUCCEEDED);
  v1::JobSpec* spec = job.mutable_spec();
  spec->set_task("mesh.extract");
  v1::Tier* fast = spec->add_tiers();
  fast->set_name("blackwell-bf16");
  fast->mutable_requirements()->add_architectures("sm_120");
  fast->mutable_requirements()->add_features("bf16");
  v1::Tier* cpu = spec->add_tiers();
  cpu->set_name("cpu-fp32");
  cpu->mutable_requirements()->set_accelerator(v1::ACCELERATOR_CPU);
  v1::Attempt* first = job.add_attempts();
  first->set_number(1);
  first->set_worker_id("w-5090");
  first->set_device("cuda:0");
  first->set_tier("blackwell-bf16");
  first->set_not_counted(true);
  first->set_exit_reason(v1::EXIT_REASON_DEVICE_CANNOT_RUN);
  v1::Attempt* second = job.add_attempts();
  second->set_number(2);
  second->set_worker_id("w-cpu");
  second->set_device("cpu");
  second->set_tier("cpu-fp32");
  const std::string text =
      DescribeJob(job, absl::FromUnixSeconds(1'700'000'000), absl::UTCTimeZone());
  EXPECT_THAT(text, HasSubstr("Tiers (tried in order):\n  0. blackwell-bf16\n"));
  EXPECT_THAT(text, HasSubstr("     architectures:      sm_120\n     features:           bf16\n"));
  EXPECT_THAT(text, HasSubstr("  1. cpu-fp32\n     accelerator:        cpu\n"));
  EXPECT_THAT(
      text,
      HasSubstr("#1  worker w-5090  slot 0  device cuda:0  tier blackwell-bf16  (not counted)"));
  EXPECT_THAT(text, HasSubstr("exit: device_cannot_run"));
  EXPECT_THAT(text, HasSubstr("#2  worker w-cpu  slot 0  device cpu  tier cpu-fp32\n"));
}

TEST(DescribeJobTest, ShowsSpecAttemptsOutputsAndResult) {
  v1::Job job = RunningJob();
  job.set_state(v1::JOB_STATE_FAILED);
  job.set_status_message("out of attempts");
  v1::JobSpec& spec = *job.mutable_spec();
  spec.set_model("triposr");
  (*spec.mutable_parameters()->mutable_fields())["seed"].set_number_value(7);
  (*spec.mutable_labels())["project"] = "chairs";
  spec.mutable_requirements()->set_accelerator(v1::ACCELERATOR_GPU);
  spec.mutable_requirements()->set_min_compute_capability(80);
  spec.mutable_requirements()->add_architectures("sm_90");
  spec.mutable_requirements()->set_min_device_memory_bytes(int64_t{24} << 30);
  v1::Attempt& a = *job.mutable_attempts(0);
  *a.mutable_started_at() = ToProtoTime(kNow - absl::Seconds(89));
  *a.mutable_ended_at() = ToProtoTime(kNow - absl::Seconds(30));
  a.set_exit_reason(v1::EXIT_REASON_EXECUTOR_CRASH);
  a.set_message("executor killed by signal 11 (SIGSEGV)");
  v1::BlobRef* out = job.add_outputs();
  out->set_name("mesh.glb");
  out->set_sha256(std::string(64, 'a'));
  out->set_size_bytes(2048);
  (*job.mutable_result()->mutable_fields())["vertices"].set_number_value(1234);

  const std::string text = DescribeJob(job, kNow, absl::UTCTimeZone());
  EXPECT_THAT(text, HasSubstr("ID:           j-00000000000000a1\n"));
  EXPECT_THAT(text, HasSubstr("Model:        triposr\n"));
  EXPECT_THAT(text, HasSubstr("State:        failed\n"));
  EXPECT_THAT(text, HasSubstr("Status:       out of attempts\n"));
  EXPECT_THAT(text, HasSubstr("Labels:       project=chairs\n"));
  EXPECT_THAT(text, HasSubstr("accelerator:        gpu\n"));
  EXPECT_THAT(text, HasSubstr("compute capability: >= 8.0\n"));
  EXPECT_THAT(text, HasSubstr("architectures:      sm_90\n"));
  EXPECT_THAT(text, HasSubstr("device memory:      >= 24.0 GiB\n"));
  EXPECT_THAT(text, HasSubstr("\"seed\": 7"));
  EXPECT_THAT(text, HasSubstr("Created:      2023-11-14 22:11:45 UTC (95s ago)\n"));
  EXPECT_THAT(text, HasSubstr("#1  worker w-gpu-1  slot 0  device cuda:0\n"));
  EXPECT_THAT(text, HasSubstr("ended 2023-11-14 22:12:50 UTC (1m)\n"));
  EXPECT_THAT(text, HasSubstr("exit: executor_crash: executor killed by signal 11 (SIGSEGV)\n"));
  EXPECT_THAT(text, HasSubstr("mesh.glb   " + std::string(64, 'a') + "   2.0 KiB\n"));
  EXPECT_THAT(text, HasSubstr("\"vertices\": 1234"));
  EXPECT_THAT(text, Not(HasSubstr("Finished")));
}

TEST(DescribeJobTest, ShowsDependenciesDependentsParentAndChildren) {
  v1::Job job = RunningJob();
  job.set_state(v1::JOB_STATE_WAITING);
  job.set_parent_job_id("j-00000000000000a0");
  v1::Dependency* dep = job.mutable_spec()->add_dependencies();
  dep->set_job_id("j-00000000000000b1");
  v1::Dependency* anyway = job.mutable_spec()->add_dependencies();
  anyway->set_job_id("j-00000000000000b2");
  anyway->set_run_on_failure(true);
  anyway->set_input_prefix("b2.");
  job.add_dependent_ids("j-00000000000000c1");
  job.add_child_job_ids("j-00000000000000d1");
  job.add_child_job_ids("j-00000000000000d2");

  const std::string text = DescribeJob(job, kNow, absl::UTCTimeZone());
  EXPECT_THAT(text, HasSubstr("State:        waiting\n"));
  EXPECT_THAT(text, HasSubstr("Parent:       j-00000000000000a0\n"));
  EXPECT_THAT(text, HasSubstr("Dependencies:\n  j-00000000000000b1\n  j-00000000000000b2  (runs "
                              "even if it fails)  inputs prefixed \"b2.\"\n"));
  EXPECT_THAT(text, HasSubstr("Dependents:   j-00000000000000c1\n"));
  EXPECT_THAT(text, HasSubstr("Children:     j-00000000000000d1, j-00000000000000d2\n"));
}

TEST(WatchFormatTest, LinesBarAndOutcome) {
  v1::Job job = RunningJob();
  EXPECT_EQ(FormatWatchLine(job, absl::UTCTimeZone()), "22:13:15  running  42%  meshing");
  EXPECT_EQ(FormatProgressBar(job, 0), "[########------------]   42%  running  meshing");
  EXPECT_EQ(FormatProgressBar(job, 10), "[########-");
  job.set_state(v1::JOB_STATE_QUEUED);
  job.set_status_message("waiting for a gpu slot");
  EXPECT_EQ(FormatWatchLine(job, absl::UTCTimeZone()),
            "22:13:15  queued  -  waiting for a gpu slot");
  job.set_state(v1::JOB_STATE_FAILED);
  job.set_status_message("task error: bad volume");
  EXPECT_EQ(FormatOutcome(job), "j-00000000000000a1 failed: task error: bad volume");
  job.set_state(v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(FormatOutcome(job), "j-00000000000000a1 succeeded");
}

TEST(ToJsonTest, CanonicalJsonWithDefaultsThatParsesBack) {
  const v1::Job job = RunningJob();
  const std::string one_line = ToJson(job, false);
  EXPECT_THAT(one_line, Not(HasSubstr("\n")));
  EXPECT_THAT(one_line, HasSubstr("\"state\":\"JOB_STATE_RUNNING\""));
  EXPECT_THAT(one_line, HasSubstr("\"progressMessage\":\"meshing\""));
  EXPECT_THAT(one_line, HasSubstr("\"statusMessage\":\"\""));  // Defaults are printed.
  const std::string pretty = ToJson(job, true);
  EXPECT_THAT(pretty, HasSubstr("\n"));
  EXPECT_NE(pretty.back(), '\n');
  v1::Job parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(pretty, &parsed).ok());
  EXPECT_EQ(parsed.SerializeAsString(), job.SerializeAsString());
}

}  // namespace
}  // namespace kiln::kilnctl
