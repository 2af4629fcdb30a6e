// Disk retention in coordinator mode: trim_data_cache removes data files and dead downloads unused
// for the retention and keeps the rest (fresh files, links, anything else); a leased job marks the
// cached files it uses (prepare_leased_job), so a trim never takes them; stale checkpoints go.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/sha256.h"
#include "protocol/coordinator_client.h"
#include "worker/coordinator_jobs.h"
#include "worker/disk_retention.h"

namespace trellis::testing {
namespace {

using namespace trellis::protocol;

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class DataCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("trellis-data-cache-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(cache());
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path cache() const { return dir_ / "checkpoints" / "data-cache"; }
  // Writes `bytes` as a cached data file (named by its sha256), last used `age` ago.
  std::string cached(const std::string& bytes, fs::file_time_type::duration age) {
    const std::string sha = sha256_hex(bytes);
    std::ofstream(cache() / sha) << bytes;
    fs::last_write_time(cache() / sha, fs::file_time_type::clock::now() - age);
    return sha;
  }
  fs::path dir_;
};

TEST_F(DataCacheTest, TrimRemovesOnlyOldDataFilesAndDeadDownloads) {
  const std::string old_file = cached("old rows\n", 48h);
  const std::string fresh = cached("fresh rows\n", 1h);
  fs::create_symlink(old_file, cache() / (old_file + ".jsonl"));
  const fs::path dead = cache() / (fresh + ".part-12345"), live = cache() / (old_file + ".part-777");
  std::ofstream(dead) << "partial";
  std::ofstream(live) << "partial";
  fs::last_write_time(dead, fs::file_time_type::clock::now() - 48h);
  const fs::path other = cache() / "README";
  std::ofstream(other) << "not ours";
  fs::last_write_time(other, fs::file_time_type::clock::now() - 48h);

  const DataCacheTrim trimmed = trim_data_cache(cache(), 24h);
  EXPECT_EQ(trimmed.files_removed, 2u);
  EXPECT_EQ(trimmed.bytes_removed, std::string("old rows\n").size() + std::string("partial").size());
  EXPECT_FALSE(fs::exists(cache() / old_file));
  EXPECT_FALSE(fs::exists(dead));
  EXPECT_TRUE(fs::exists(cache() / fresh));
  EXPECT_TRUE(fs::exists(live));
  EXPECT_TRUE(fs::exists(other));
  EXPECT_TRUE(fs::is_symlink(cache() / (old_file + ".jsonl")));  // works again after a new download
  EXPECT_EQ(trim_data_cache(dir_ / "no-such-cache", 24h).files_removed, 0u);
}

// Checkpoints of jobs (j-<32 hex>.ckpt and .ckpt.tmp) not written for the retention go; fresh
// ones and other files stay.
TEST_F(DataCacheTest, StaleCheckpointsAreRemoved) {
  const fs::path dir = dir_ / "checkpoints";
  const auto write = [&](const std::string& name, fs::file_time_type::duration age) {
    std::ofstream(dir / name) << "state";
    fs::last_write_time(dir / name, fs::file_time_type::clock::now() - age);
    return dir / name;
  };
  const fs::path stale = write("j-" + std::string(32, 'a') + ".ckpt", 48h);
  const fs::path stale_tmp = write("j-" + std::string(32, 'b') + ".ckpt.tmp", 48h);
  const fs::path fresh = write("j-" + std::string(32, 'c') + ".ckpt", 1h);
  const fs::path other = write("notes.ckpt", 48h);
  const fs::path upper = write("j-" + std::string(32, 'A') + ".ckpt", 48h);
  EXPECT_EQ(trim_stale_checkpoints(dir, 24h), 2u);
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_FALSE(fs::exists(stale_tmp));
  EXPECT_TRUE(fs::exists(fresh));
  EXPECT_TRUE(fs::exists(other));
  EXPECT_TRUE(fs::exists(upper));
  EXPECT_TRUE(fs::is_directory(cache()));  // the data cache inside is not a checkpoint
  EXPECT_EQ(trim_stale_checkpoints(dir_ / "none", 24h), 0u);
}

TEST_F(DataCacheTest, ALeasedJobMarksItsCachedFilesUsed) {
  const std::string rows = "{\"text\": \"good\", \"label\": \"pos\"}\n";
  const std::string sha = cached(rows, 48h);
  JobMessage job;
  job.id = "j-" + std::string(32, '1');
  job.state = JobState::leased;
  job.spec = {{"task", "sent"}, {"backbone", "tiny-bert"}, {"data", {{"train", "file:" + sha + ".jsonl"}}}};
  CoordinatorClientOptions client_options;
  client_options.server = "http://127.0.0.1:1";  // never called: the file is cached
  client_options.token = "worker-token-0123456789";
  CoordinatorClient client(client_options);
  CoordinatorJobOptions options;
  options.checkpoint_dir = dir_ / "checkpoints";
  options.backbone = "tiny-bert";
  LeasedJob leased = prepare_leased_job(job, client, options);
  ASSERT_TRUE(leased.job) << leased.error;
  EXPECT_EQ(data_cache_dir(options), fs::absolute(cache()));
  EXPECT_EQ(trim_data_cache(cache(), 24h).files_removed, 0u);  // used just now
  EXPECT_TRUE(fs::exists(cache() / sha));
  remove_job_staging(*leased.job);
}

}  // namespace
}  // namespace trellis::testing
