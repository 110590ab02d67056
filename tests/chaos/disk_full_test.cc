// Disk full: the scheduler's data dir is a small tmpfs that a filler file fills up.
// Submits then fail with UNAVAILABLE (what the SDK's caller sees), reads keep
// working, nothing acknowledged is lost and nothing refused is stored; once the
// filler is deleted the same scheduler process takes submits again (RocksDB
// resumed, memory rebuilt from the store) without a restart. A kill -9 and restart
// afterwards finds exactly the acknowledged jobs.
//
// Needs mount(2) (root, or CAP_SYS_ADMIN); skips with a message where it is refused.
#include <errno.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/support/local_farm.h"

namespace kiln::testing {
namespace {

// A tmpfs of `size` (mount(8) syntax, e.g. "24m") on `path` until destroyed (lazy
// unmount, so a process still using it does not block the test's cleanup).
class TmpfsMount {
 public:
  static absl::StatusOr<std::unique_ptr<TmpfsMount>> Create(const std::string& path,
                                                            const std::string& size) {
    std::filesystem::create_directories(path);
    const std::string data = "size=" + size;
    if (::mount("tmpfs", path.c_str(), "tmpfs", 0, data.c_str()) != 0) {
      return absl::PermissionDeniedError(
          absl::StrCat("mount -t tmpfs -o ", data, " ", path, ": ", std::strerror(errno)));
    }
    return std::unique_ptr<TmpfsMount>(new TmpfsMount(path));
  }
  ~TmpfsMount() { ::umount2(path_.c_str(), MNT_DETACH); }

 private:
  explicit TmpfsMount(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

// Writes 256 KiB blocks to `path` until the filesystem refuses; returns the bytes written.
int64_t FillUp(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr) return 0;
  std::setvbuf(file, nullptr, _IONBF, 0);
  const std::string block(256 << 10, 'x');
  int64_t written = 0;
  for (;;) {
    const size_t n = std::fwrite(block.data(), 1, block.size(), file);
    written += static_cast<int64_t>(n);
    if (n < block.size()) break;
  }
  // Whatever a smaller write still fits.
  const std::string small(4096, 'x');
  while (std::fwrite(small.data(), 1, small.size(), file) == small.size()) written += 4096;
  std::fclose(file);
  return written;
}

// A job of about 2.5 KB (labels), so that the store grows quickly.
kiln::v1::JobSpec BulkySpec(int index) {
  kiln::v1::JobSpec spec;
  spec.set_task("debug.sleep");
  (*spec.mutable_parameters()->mutable_fields())["seconds"].set_number_value(1);
  spec.set_client_request_id(absl::StrCat("disk-full-", index));
  for (int l = 0; l < 32; ++l) {
    (*spec.mutable_labels())[absl::StrCat("label-", l)] = std::string(60, 'a' + l % 26);
  }
  return spec;
}

TEST(DiskFull, SubmitsFailUnavailableNothingIsLostAndServiceResumesWhenSpaceReturns) {
  LocalFarm farm;
  const std::string data_dir = farm.dir() + "/scheduler-data";
  absl::StatusOr<std::unique_ptr<TmpfsMount>> mount = TmpfsMount::Create(data_dir, "24m");
  if (!mount.ok()) GTEST_SKIP() << "needs a tmpfs for the data dir: " << mount.status();
  ASSERT_TRUE(farm.StartScheduler().ok()) << farm.Log("scheduler.log");
  const pid_t pid = farm.scheduler()->pid();
  std::unique_ptr<Client> client = farm.NewClient(/*max_retries=*/0);
  ASSERT_NE(client, nullptr);

  std::set<std::string> acked;
  int next = 0;
  for (int i = 0; i < 100; ++i) {
    auto job = client->Submit(BulkySpec(next++));
    ASSERT_TRUE(job.ok()) << job.status();
    acked.insert(job->id());
  }

  const std::string filler = data_dir + "/filler";
  ASSERT_GT(FillUp(filler), 0);
  // RocksDB may still have preallocated room in its log: submit until it is used up.
  absl::Status refused;
  const absl::Time deadline = absl::Now() + absl::Seconds(120);
  while (refused.ok() && absl::Now() < deadline) {
    auto job = client->Submit(BulkySpec(next++));
    if (job.ok()) {
      acked.insert(job->id());
    } else {
      refused = job.status();
    }
  }
  ASSERT_FALSE(refused.ok()) << "the full disk never refused a submit (" << acked.size()
                             << " accepted)";
  EXPECT_TRUE(absl::IsUnavailable(refused)) << refused;
  // While the disk stays full, submits keep failing the same way and reads still work.
  // (A second filler takes whatever RocksDB may have freed meanwhile.)
  FillUp(filler + "-2");
  for (int i = 0; i < 3; ++i) {
    auto job = client->Submit(BulkySpec(next++));
    ASSERT_FALSE(job.ok());
    EXPECT_TRUE(absl::IsUnavailable(job.status())) << job.status();
  }
  auto read = client->Get(*acked.begin());
  EXPECT_TRUE(read.ok()) << read.status();

  // Space returns: the same process takes submits again.
  std::filesystem::remove(filler);
  std::filesystem::remove(filler + "-2");
  absl::Status last;
  ASSERT_TRUE(WaitUntil(
      [&] {
        auto job = client->Submit(BulkySpec(next));
        last = job.status();
        if (!job.ok()) return false;
        acked.insert(job->id());
        ++next;
        return true;
      },
      absl::Seconds(60)))
      << "no submit succeeded after the disk was freed: " << last << "\n"
      << farm.Log("scheduler.log");
  EXPECT_TRUE(farm.scheduler()->Running());
  EXPECT_EQ(farm.scheduler()->pid(), pid);
  for (int i = 0; i < 20; ++i) {
    auto job = client->Submit(BulkySpec(next++));
    ASSERT_TRUE(job.ok()) << job.status();
    acked.insert(job->id());
  }

  // After a hard restart the store holds exactly the acknowledged jobs.
  farm.StopScheduler(SIGKILL);
  ASSERT_TRUE(farm.StartScheduler().ok()) << farm.Log("scheduler.log");
  client = farm.NewClient();
  std::set<std::string> stored;
  kiln::v1::ListJobsRequest list;
  list.set_page_size(1000);
  for (;;) {
    auto page = client->List(list);
    ASSERT_TRUE(page.ok()) << page.status();
    for (const auto& job : page->jobs()) stored.insert(job.id());
    if (page->next_page_token().empty()) break;
    list.set_page_token(page->next_page_token());
  }
  EXPECT_EQ(stored, acked);
  std::printf("disk full: acknowledged=%zu stored_after_restart=%zu first_refusal=\"%s\"\n",
              acked.size(), stored.size(), std::string(refused.message()).c_str());
  farm.StopScheduler(SIGKILL);
}

}  // namespace
}  // namespace kiln::testing
