// Preemption end to end, with real processes on loopback: kiln-scheduler with
// --preempt-after=1s, one kiln-worker with one slot (and its kiln-exec child). A long
// low-priority debug.sleep runs; a high-priority job arrives, waits past the grace
// period, and takes the slot: the worker learns at its next heartbeat (or progress
// report), kills the task and asks again. Both jobs succeed, and the low-priority one
// (max_attempts 1) shows the preempted attempt in its history and in `kilnctl describe`.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/kiln_client.h"
#include "common/proto_time.h"
#include "google/protobuf/util/json_util.h"
#include "tests/support/local_farm.h"

namespace kiln::testing {
namespace {

v1::JobSpec SleepSpec(double seconds, int priority) {
  v1::JobSpec spec;
  spec.set_task("debug.sleep");
  spec.set_priority(priority);
  spec.set_max_attempts(1);
  google::protobuf::util::JsonStringToMessage(absl::StrCat(R"({"seconds":)", seconds, "}"),
                                              spec.mutable_parameters());
  return spec;
}

TEST(PreemptionEndToEnd, HighPriorityJobTakesTheSlotAndTheVictimRunsAgain) {
  LocalFarm farm;
  ASSERT_TRUE(farm.StartScheduler({"--preempt-after=1s", "--heartbeat-interval=500ms"}).ok());
  ASSERT_TRUE(farm.StartWorker(0, 1).ok());
  std::unique_ptr<Client> client = farm.NewClient();

  // Long enough that it cannot finish before the preemption, even on a loaded machine.
  absl::StatusOr<v1::Job> low = client->Submit(SleepSpec(12, 0));
  ASSERT_TRUE(low.ok()) << low.status();
  auto state_of = [&](const std::string& id) {
    absl::StatusOr<v1::Job> job = client->Get(id);
    return job.ok() ? job->state() : v1::JOB_STATE_UNSPECIFIED;
  };
  ASSERT_TRUE(
      WaitUntil([&] { return state_of(low->id()) == v1::JOB_STATE_RUNNING; }, absl::Seconds(60)))
      << farm.Log("worker-0.log");

  absl::StatusOr<v1::Job> high = client->Submit(SleepSpec(0.2, 10));
  ASSERT_TRUE(high.ok()) << high.status();
  ASSERT_TRUE(
      WaitUntil([&] { return state_of(high->id()) == v1::JOB_STATE_SUCCEEDED; }, absl::Seconds(60)))
      << farm.Log("scheduler.log") << farm.Log("worker-0.log");
  // The low-priority job was not done when the slot changed hands.
  absl::StatusOr<v1::Job> high_done = client->Get(high->id());
  ASSERT_TRUE(high_done.ok());
  ASSERT_EQ(high_done->attempts_size(), 1);
  EXPECT_EQ(high_done->attempts(0).worker_id(), "worker-0");
  EXPECT_NE(state_of(low->id()), v1::JOB_STATE_SUCCEEDED);

  ASSERT_TRUE(
      WaitUntil([&] { return state_of(low->id()) == v1::JOB_STATE_SUCCEEDED; }, absl::Seconds(120)))
      << farm.Log("scheduler.log") << farm.Log("worker-0.log");
  absl::StatusOr<v1::Job> low_done = client->Get(low->id());
  ASSERT_TRUE(low_done.ok()) << low_done.status();
  ASSERT_EQ(low_done->attempts_size(), 2);
  const v1::Attempt& preempted = low_done->attempts(0);
  EXPECT_EQ(preempted.exit_reason(), v1::EXIT_REASON_PREEMPTED);
  EXPECT_TRUE(preempted.not_counted());
  EXPECT_TRUE(absl::StrContains(preempted.message(), "preempted by " + high->id()))
      << preempted.message();
  EXPECT_EQ(low_done->attempts(1).exit_reason(), v1::EXIT_REASON_SUCCEEDED);
  // The high-priority job ran while the victim waited for its second attempt.
  EXPECT_LE(FromProtoTime(high_done->finished_at()),
            FromProtoTime(low_done->attempts(1).assigned_at()));
  // The worker stopped the task on the scheduler's word (its heartbeat's abandon, or the
  // rejection of a progress report, whichever came first), not at its end.
  EXPECT_TRUE(absl::StrContains(
      farm.Log("worker-0.log"),
      absl::StrCat("dropping job ", low->id(), " attempt 1: abandoned by the scheduler")))
      << farm.Log("worker-0.log");

  CommandResult describe = farm.Kilnctl({"describe", low->id()});
  ASSERT_EQ(describe.exit_code, 0) << describe.err;
  EXPECT_TRUE(absl::StrContains(describe.out, "exit: preempted: preempted by " + high->id()))
      << describe.out;
  EXPECT_TRUE(absl::StrContains(describe.out, "(not counted)")) << describe.out;
}

}  // namespace
}  // namespace kiln::testing
