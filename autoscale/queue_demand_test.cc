#include "autoscale/queue_demand.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::autoscale {
namespace {

using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

constexpr char kPage[] = R"(# HELP kiln_queue_jobs Ready queued jobs per requirement class
# TYPE kiln_queue_jobs gauge
kiln_queue_jobs{task="mesh.extract",accelerator="cpu",min_cc="none",memory="none",placement="no_worker_alive"} 3
kiln_queue_jobs{task="field.decode",accelerator="gpu",min_cc="8.0",memory="24to48GiB",placement="slots_busy"} 2.000000 1700000000000
kiln_queue_jobs_total 99
kiln_queue_depth 5
kiln_queue_jobs{task="odd \"quoted\\ task\"",accelerator="any"} 1
)";

TEST(QueueDemandTest, ParsesTheSamplesOfOneMetric) {
  absl::StatusOr<std::vector<Sample>> samples = ParseMetricSamples(kPage, "kiln_queue_jobs");
  ASSERT_TRUE(samples.ok()) << samples.status();
  ASSERT_EQ(samples->size(), 3u);
  EXPECT_THAT((*samples)[0].labels,
              UnorderedElementsAre(Pair("task", "mesh.extract"), Pair("accelerator", "cpu"),
                                   Pair("min_cc", "none"), Pair("memory", "none"),
                                   Pair("placement", "no_worker_alive")));
  EXPECT_EQ((*samples)[0].value, 3);
  EXPECT_EQ((*samples)[1].labels.at("min_cc"), "8.0");
  EXPECT_EQ((*samples)[1].value, 2);  // the timestamp is not the value
  EXPECT_EQ((*samples)[2].labels.at("task"), "odd \"quoted\\ task\"");
}

TEST(QueueDemandTest, OtherMetricsWithTheSamePrefixAreNotSamples) {
  absl::StatusOr<std::vector<Sample>> samples = ParseMetricSamples(kPage, "kiln_queue_depth");
  ASSERT_TRUE(samples.ok()) << samples.status();
  ASSERT_EQ(samples->size(), 1u);
  EXPECT_TRUE((*samples)[0].labels.empty());
  EXPECT_EQ((*samples)[0].value, 5);
}

TEST(QueueDemandTest, MissingMetricIsNoSamples) {
  absl::StatusOr<std::vector<Sample>> samples = ParseMetricSamples("up 1\n", "kiln_queue_jobs");
  ASSERT_TRUE(samples.ok());
  EXPECT_TRUE(samples->empty());
}

TEST(QueueDemandTest, MalformedLinesNameTheLine) {
  EXPECT_THAT(std::string(ParseMetricSamples("\nkiln_queue_jobs{task=\"x} 1\n", "kiln_queue_jobs")
                              .status()
                              .message()),
              HasSubstr("line 2"));
  EXPECT_THAT(std::string(ParseMetricSamples("kiln_queue_jobs{a=\"b\"} abc\n", "kiln_queue_jobs")
                              .status()
                              .message()),
              HasSubstr("bad value"));
  EXPECT_FALSE(ParseMetricSamples("kiln_queue_jobs{a=b} 1\n", "kiln_queue_jobs").ok());
  EXPECT_FALSE(ParseMetricSamples("kiln_queue_jobs\n", "kiln_queue_jobs").ok());
}

}  // namespace
}  // namespace kiln::autoscale
