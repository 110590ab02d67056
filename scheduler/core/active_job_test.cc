#include "scheduler/core/active_job.h"

#include <gtest/gtest.h>

#include "common/proto_time.h"
#include "google/protobuf/util/message_differencer.h"

namespace kiln::core {
namespace {

using google::protobuf::util::MessageDifferencer;

kiln::v1::Job SampleJob() {
  kiln::v1::Job job;
  job.set_id("j-0000000000000007");
  job.set_state(kiln::v1::JOB_STATE_QUEUED);
  job.set_tenant("lab");
  job.mutable_spec()->set_task("debug.sleep");
  job.mutable_spec()->set_priority(5);
  (*job.mutable_spec()->mutable_labels())["team"] = "vision";
  (*job.mutable_spec()->mutable_parameters()->mutable_fields())["seconds"].set_number_value(2);
  *job.mutable_created_at() = ToProtoTime(absl::FromUnixSeconds(1000));
  return job;
}

TEST(ActiveJobTest, PackedJobKeepsEveryFieldAndItsSummary) {
  ActiveJob active;
  active.job() = SampleJob();
  EXPECT_FALSE(active.packed());
  active.Pack();
  ASSERT_TRUE(active.packed());
  EXPECT_EQ(active.state(), kiln::v1::JOB_STATE_QUEUED);
  EXPECT_EQ(active.priority(), 5);
  EXPECT_EQ(active.ready_at(), absl::FromUnixSeconds(1000));

  // A copy leaves it packed; job() unpacks it for good.
  EXPECT_TRUE(MessageDifferencer::Equals(active.Copy(), SampleJob()));
  EXPECT_TRUE(active.packed());
  EXPECT_TRUE(MessageDifferencer::Equals(active.job(), SampleJob()));
  EXPECT_FALSE(active.packed());

  // Changes made after unpacking are what the next Pack keeps.
  active.job().set_state(kiln::v1::JOB_STATE_ASSIGNED);
  *active.job().mutable_not_before() = ToProtoTime(absl::FromUnixSeconds(2000));
  active.Pack();
  active.Pack();  // packing twice is a no-op
  EXPECT_EQ(active.state(), kiln::v1::JOB_STATE_ASSIGNED);
  EXPECT_EQ(active.ready_at(), absl::FromUnixSeconds(2000));  // not_before wins
  EXPECT_EQ(active.Copy().state(), kiln::v1::JOB_STATE_ASSIGNED);
  EXPECT_EQ(active.Copy().spec().labels().at("team"), "vision");
}

TEST(ActiveJobTest, AStoredRecordIsHeldAsItWasRead) {
  const kiln::v1::Job job = SampleJob();
  ActiveJob active;
  active.SetPacked(job.SerializeAsString(), job);
  ASSERT_TRUE(active.packed());
  EXPECT_EQ(active.priority(), 5);
  EXPECT_TRUE(MessageDifferencer::Equals(active.job(), job));
  // Unpacked, the summary follows the parsed job.
  active.job().mutable_spec()->set_priority(9);
  EXPECT_EQ(active.priority(), 9);
}

}  // namespace
}  // namespace kiln::core
