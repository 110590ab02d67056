#include "autoscale/slurm_pool_jobs.h"

#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "common/testing/scoped_temp_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::autoscale {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(SlurmPoolJobsTest, ParsesSqueueAndLeavesEndingJobsOut) {
  absl::StatusOr<std::vector<WorkerJob>> jobs =
      ParseSqueue("101|RUNNING\n102|PENDING\n103|COMPLETING\n104|CONFIGURING\n105|CANCELLED\n\n");
  ASSERT_TRUE(jobs.ok()) << jobs.status();
  ASSERT_EQ(jobs->size(), 3u);
  EXPECT_EQ((*jobs)[0].id, "101");
  EXPECT_FALSE((*jobs)[0].pending);
  EXPECT_EQ((*jobs)[1].id, "102");
  EXPECT_TRUE((*jobs)[1].pending);
  EXPECT_EQ((*jobs)[2].id, "104");
  EXPECT_TRUE((*jobs)[2].pending);
}

TEST(SlurmPoolJobsTest, MalformedSqueueLineIsAnError) {
  EXPECT_THAT(std::string(ParseSqueue("101|RUNNING\nfoo\n").status().message()),
              HasSubstr("squeue line 2"));
  EXPECT_FALSE(ParseSqueue("12_3|RUNNING\n").ok());  // arrays are not the autoscaler's
}

TEST(SlurmPoolJobsTest, SbatchCommandCarriesThePoolsSettings) {
  PoolConfig pool;
  pool.name = "h100";
  pool.script = "/opt/kiln/slurm/kiln-worker.sbatch";
  pool.partition = "gpu";
  pool.gres = "gpu:h100:4";
  pool.constraint = "h100&ib";
  pool.sbatch_args = {"--time=12:00:00"};
  pool.env = {{"KILN_SHARED", "/shared/kiln"}, {"KILN_WORKER_SLOTS", "0"}};
  EXPECT_THAT(
      SbatchCommand(SlurmOptions{}, pool),
      ElementsAre("sbatch", "--parsable", "--job-name=kiln-h100", "--partition=gpu",
                  "--gres=gpu:h100:4", "--constraint=h100&ib",
                  "--export=ALL,KILN_POOL=h100,KILN_SHARED=/shared/kiln,KILN_WORKER_SLOTS=0",
                  "--time=12:00:00", "/opt/kiln/slurm/kiln-worker.sbatch"));
  PoolConfig cpu;
  cpu.name = "cpu";
  cpu.script = "w.sbatch";
  SlurmOptions options;
  options.bin_dir = "/usr/local/slurm/bin";
  EXPECT_THAT(SbatchCommand(options, cpu),
              ElementsAre("/usr/local/slurm/bin/sbatch", "--parsable", "--job-name=kiln-cpu",
                          "--export=ALL,KILN_POOL=cpu", "w.sbatch"));
}

TEST(SlurmPoolJobsTest, SlurmJobIdOfWorker) {
  EXPECT_EQ(SlurmJobIdOfWorker("kiln-node01-4711"), "4711");
  EXPECT_EQ(SlurmJobIdOfWorker("kiln-gpu-a-12-88"), "88");
  EXPECT_EQ(SlurmJobIdOfWorker("kiln-node01-4711_3"), "");
  EXPECT_EQ(SlurmJobIdOfWorker("worker-0"), "");
  EXPECT_EQ(SlurmJobIdOfWorker("kiln-12"), "");
  EXPECT_EQ(SlurmJobIdOfWorker("kiln-node-"), "");
}

// A bin dir whose sbatch/squeue/scancel record their arguments in calls.log.
class FakeSlurmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : {"sbatch", "squeue", "scancel"}) {
      const std::string path = dir_.Sub(name);
      std::ofstream(path) << "#!/bin/sh\necho " << name << " \"$@\" >> " << dir_.Sub("calls.log")
                          << "\n"
                          << (std::string(name) == "sbatch" ? "echo 4242\n"
                              : std::string(name) == "squeue"
                                  ? "printf '7|RUNNING\\n8|PENDING\\n'\n"
                                  : "");
      ::chmod(path.c_str(), 0755);
    }
    options_.bin_dir = dir_.path();
    pool_.name = "cpu";
    pool_.script = "w.sbatch";
  }
  std::string Calls() {
    std::stringstream text;
    text << std::ifstream(dir_.Sub("calls.log")).rdbuf();
    return text.str();
  }
  kiln::testing::ScopedTempDir dir_;
  SlurmOptions options_;
  PoolConfig pool_;
};

TEST_F(FakeSlurmTest, ListsSubmitsAndStops) {
  SlurmPoolJobs slurm(options_);
  absl::StatusOr<std::vector<WorkerJob>> jobs = slurm.List(pool_);
  ASSERT_TRUE(jobs.ok()) << jobs.status();
  ASSERT_EQ(jobs->size(), 2u);
  absl::StatusOr<std::string> id = slurm.Submit(pool_);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(*id, "4242");
  ASSERT_TRUE(slurm.Stop(*jobs).ok());
  // Pending: cancelled; running: only the batch shell (the worker) gets SIGTERM.
  EXPECT_EQ(Calls(),
            "squeue -h --noconvert --name=kiln-cpu -o %i|%T\n"
            "sbatch --parsable --job-name=kiln-cpu --export=ALL,KILN_POOL=cpu w.sbatch\n"
            "scancel 8\n"
            "scancel --batch --signal=TERM 7\n");
}

TEST(SlurmPoolJobsTest, CommandFailuresAreReported) {
  SlurmOptions options;
  options.bin_dir = "/nonexistent";
  SlurmPoolJobs slurm(options);
  PoolConfig pool;
  pool.name = "cpu";
  pool.script = "w.sbatch";
  absl::StatusOr<std::vector<WorkerJob>> jobs = slurm.List(pool);
  ASSERT_FALSE(jobs.ok());
  EXPECT_THAT(std::string(jobs.status().message()), HasSubstr("/nonexistent/squeue"));
}

}  // namespace
}  // namespace kiln::autoscale
