// FileStore retention: pins, sweeps and removal decide by last use (modification time), the
// caller's keep set and pins; temporary files of dead uploads are swept too.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "coordinator/api/file_store.h"
#include "common/sha256.h"

namespace trellis::api {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using FileClock = FileStore::Clock;

class FileStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("trellis-file-store-" + std::to_string(::getpid()) + "-" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    store_ = std::make_unique<FileStore>(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  fs::path path(const std::string& id) const { return root_ / id.substr(0, 2) / id; }
  void age(const fs::path& p, FileClock::duration by) { fs::last_write_time(p, FileClock::now() - by); }
  std::string put_aged(const std::string& bytes, FileClock::duration by) {
    const std::string id = store_->put(bytes).id;
    age(path(id), by);
    return id;
  }

  fs::path root_;
  std::unique_ptr<FileStore> store_;
};

TEST_F(FileStoreTest, SweepRemovesOnlyOldFilesNotKeptNorPinned) {
  const std::string old_a = put_aged("old a\n", 3h);
  const std::string kept = put_aged("kept\n", 3h);
  const std::string fresh = store_->put("fresh\n").id;
  const std::string pinned = put_aged("pinned\n", 3h);
  auto pin = store_->pin(pinned);
  ASSERT_TRUE(pin);
  age(path(pinned), 3h);  // the pin alone must keep it
  const fs::path dead_upload = root_ / ".incoming" / "dead.tmp", live_upload = root_ / ".incoming" / "live.tmp";
  std::ofstream(dead_upload) << "partial";
  std::ofstream(live_upload) << "partial";
  age(dead_upload, 4h);
  age(live_upload, 90min);

  const SweepResult r = store_->sweep(FileClock::now() - 1h, {kept});
  EXPECT_EQ(r.files_removed, 1u);
  EXPECT_EQ(r.bytes_removed, 6u);
  EXPECT_EQ(r.files_kept, 2u);  // kept and pinned
  EXPECT_FALSE(store_->find(old_a));
  EXPECT_TRUE(store_->find(kept));
  EXPECT_TRUE(store_->find(fresh));
  EXPECT_TRUE(store_->find(pinned));
  EXPECT_FALSE(fs::exists(dead_upload));  // older than an hour before the cutoff
  EXPECT_TRUE(fs::exists(live_upload));

  pin.reset();  // released (and marked used then): once unused long enough, it goes
  EXPECT_EQ(store_->sweep(FileClock::now() - 1h, {kept}).files_removed, 0u);
  age(path(pinned), 3h);
  EXPECT_EQ(store_->sweep(FileClock::now() - 1h, {kept}).files_removed, 1u);
  EXPECT_FALSE(store_->find(pinned));
}

TEST_F(FileStoreTest, UploadAndPinMarkAFileUsed) {
  const std::string id = put_aged("data\n", 3h);
  EXPECT_FALSE(store_->put("data\n").created);  // the same bytes again: marked used, not rewritten
  EXPECT_EQ(store_->sweep(FileClock::now() - 1h, {}).files_removed, 0u);
  age(path(id), 3h);
  EXPECT_TRUE(store_->pin(id));  // a submit referenced it (the pin is released at once)
  EXPECT_EQ(store_->sweep(FileClock::now() - 1h, {}).files_removed, 0u);
  EXPECT_FALSE(store_->pin(std::string(64, 'e')));
  EXPECT_FALSE(store_->pin("../etc"));
}

TEST_F(FileStoreTest, RemoveRefusesPinnedAndRecentlyUsedFiles) {
  const std::string id = put_aged("data\n", 3h);
  const auto listed_at = FileClock::now();
  {
    auto pin = store_->pin(id);  // a submit in progress
    age(path(id), 3h);
    EXPECT_EQ(store_->remove(id, listed_at), RemoveResult::pinned);
  }
  // Released after the caller listed the live jobs: the job that submit stored may be missing
  // from that listing, so the file counts as used since.
  EXPECT_EQ(store_->remove(id, listed_at), RemoveResult::pinned);
  age(path(id), 3h);
  EXPECT_TRUE(store_->pin(id));  // the same through a pin taken and released at once
  EXPECT_EQ(store_->remove(id, listed_at), RemoveResult::pinned);
  EXPECT_EQ(store_->remove(id, FileClock::now() + 1s), RemoveResult::removed);
  EXPECT_FALSE(store_->find(id));
  EXPECT_EQ(store_->remove(id, FileClock::now()), RemoveResult::not_found);
  EXPECT_EQ(store_->remove("../../x", FileClock::now()), RemoveResult::not_found);
}

}  // namespace
}  // namespace trellis::api
