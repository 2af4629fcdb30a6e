// Aliases (set, move, remove, refused targets) and explicit deletion with tombstones.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "registry/artifact_registry.h"
#include "tests/unit/registry/registry_test_support.h"
#include "common/files.h"

namespace trellis {
namespace {

using testing::registry_error;
using testing::tensor_bytes;
using testing::test_manifest;
namespace fs = std::filesystem;

class AliasDeleteTest : public testing::RegistryTest {
 protected:
  void SetUp() override {
    RegistryTest::SetUp();
    reg_ = std::make_unique<ArtifactRegistry>(options());
    for (int i = 1; i <= 3; ++i) reg_->publish("sst2", test_manifest("sst2", 0.7 + 0.1 * i), tensor_bytes(i));
  }
  std::unique_ptr<ArtifactRegistry> reg_;
};

TEST_F(AliasDeleteTest, AliasesResolveAndMove) {
  reg_->set_alias("sst2", "prod", 2);
  reg_->set_alias("sst2", "staging", 3);
  EXPECT_EQ(reg_->resolve("sst2@prod").version, 2);
  EXPECT_EQ(reg_->resolve("sst2@staging").version, 3);
  EXPECT_EQ(reg_->aliases("sst2"), (std::map<std::string, int64_t>{{"prod", 2}, {"staging", 3}}));
  // A symlink the shared filesystem can be browsed through.
  EXPECT_EQ(fs::read_symlink(root() / "sst2" / "aliases" / "prod"), "../2");
  EXPECT_EQ(read_manifest(root() / "sst2" / "aliases" / "prod").version, 2);
  reg_->set_alias("sst2", "prod", 3);  // moved
  EXPECT_EQ(reg_->resolve("sst2@prod").version, 3);
  reg_->set_alias("sst2", "prod", 3);                                                            // idempotent
  EXPECT_EQ(names(root() / "sst2" / "aliases"), (std::vector<std::string>{"prod", "staging"}));  // no temporaries
  reg_->remove_alias("sst2", "staging");
  EXPECT_CONTAINS(registry_error([&] { reg_->resolve("sst2@staging"); }, ErrorCode::not_found), "latest, prod");
  EXPECT_CONTAINS(registry_error([&] { reg_->remove_alias("sst2", "staging"); }, ErrorCode::not_found), "prod");
}

TEST_F(AliasDeleteTest, RefusesBadAliases) {
  EXPECT_CONTAINS(registry_error([&] { reg_->set_alias("sst2", "latest", 1); }, ErrorCode::invalid), "reserved");
  for (std::string bad : std::vector<std::string>{"", "2", "Prod", "../prod", "a/b", ".tmp-x", std::string(65, 'a')})
    registry_error([&] { reg_->set_alias("sst2", bad, 1); }, ErrorCode::invalid);
  registry_error([&] { reg_->set_alias("sst2", "prod", 0); }, ErrorCode::invalid);
  registry_error([&] { reg_->set_alias("../sst2", "prod", 1); }, ErrorCode::invalid);
  EXPECT_CONTAINS(registry_error([&] { reg_->set_alias("sst2", "prod", 4); }, ErrorCode::conflict),
                  "versions: 1, 2, 3");
  registry_error([&] { reg_->set_alias("mnli", "prod", 1); }, ErrorCode::not_found);
  write_text(root() / "sst2" / "3" / kManifestFile, "[]");
  EXPECT_CONTAINS(registry_error([&] { reg_->set_alias("sst2", "prod", 3); }, ErrorCode::conflict), "broken");
  reg_->delete_version("sst2", 2, "bad data");
  EXPECT_CONTAINS(registry_error([&] { reg_->set_alias("sst2", "prod", 2); }, ErrorCode::conflict), "deleted");
  EXPECT_FALSE(fs::exists(root() / "sst2" / "aliases" / "prod"));
  // A malformed alias (written by hand) is reported, not followed.
  fs::create_directories(root() / "sst2" / "aliases");
  fs::create_symlink("../../../etc", root() / "sst2" / "aliases" / "evil");
  registry_error([&] { reg_->resolve("sst2@evil"); }, ErrorCode::broken);
}

TEST_F(AliasDeleteTest, DeletionLeavesATombstoneAndNeverReusesTheNumber) {
  reg_->set_alias("sst2", "prod", 3);
  EXPECT_CONTAINS(registry_error([&] { reg_->delete_version("sst2", 3, "x"); }, ErrorCode::conflict), "prod");
  EXPECT_TRUE(fs::exists(root() / "sst2" / "3" / kAdapterFile));
  reg_->set_alias("sst2", "prod", 1);
  EXPECT_TRUE(reg_->delete_version("sst2", 3, "leaked test data"));
  EXPECT_FALSE(reg_->delete_version("sst2", 3, "again"));  // idempotent
  // The directory stays: manifest (lineage) and tombstone, no tensors.
  EXPECT_EQ(names(root() / "sst2" / "3"), (std::vector<std::string>{"manifest.json", "tombstone.json"}));
  const auto versions = reg_->list_versions("sst2");
  ASSERT_EQ(versions.size(), 3u);
  EXPECT_EQ(versions[2].state, VersionState::deleted);
  EXPECT_TRUE(versions[2].deleted);
  EXPECT_EQ(versions[2].metrics.at("accuracy"), 0.7 + 0.3);
  EXPECT_CONTAINS(registry_error([&] { reg_->resolve("sst2@3"); }, ErrorCode::not_found), "deleted");
  registry_error([&] { reg_->verify("sst2", 3); }, ErrorCode::not_found);
  EXPECT_EQ(reg_->resolve("sst2@latest").version, 2);
  EXPECT_EQ(reg_->list_tasks().at(0).latest, 2);
  EXPECT_EQ(reg_->publish("sst2", test_manifest("sst2"), tensor_bytes(9)).version, 4);
  registry_error([&] { reg_->delete_version("sst2", 7, "x"); }, ErrorCode::not_found);
  registry_error([&] { reg_->delete_version("sst2", 0, "x"); }, ErrorCode::invalid);
  // Every version of a task deleted: still listed, nothing to serve.
  reg_->remove_alias("sst2", "prod");
  for (int v : {1, 2, 4}) reg_->delete_version("sst2", v, "");
  EXPECT_FALSE(reg_->list_tasks().at(0).latest);
  EXPECT_CONTAINS(registry_error([&] { reg_->resolve("sst2"); }, ErrorCode::not_found), "1 (deleted)");
  EXPECT_EQ(reg_->publish("sst2", test_manifest("sst2"), tensor_bytes(9)).version, 5);
}

TEST_F(AliasDeleteTest, AnInterruptedDeletionIsStillADeletion) {
  // Crash after the tombstone, before the tensors were removed.
  write_file_durably(root() / "sst2" / "2" / "tombstone.json", "{}");
  EXPECT_EQ(reg_->list_versions("sst2")[1].state, VersionState::deleted);
  registry_error([&] { reg_->resolve("sst2@2"); }, ErrorCode::not_found);
  EXPECT_FALSE(reg_->delete_version("sst2", 2, "finish"));
  EXPECT_FALSE(fs::exists(root() / "sst2" / "2" / kAdapterFile));
}

// Alias moves and deletions race from several threads: an alias never ends up on a deleted version.
TEST_F(AliasDeleteTest, AliasesAndDeletionsAreSerialised) {
  std::atomic<bool> deleted{false};
  std::thread mover([&] {
    for (int i = 0; i < 200; ++i) {
      for (int v : {1, 2}) {
        try {
          reg_->set_alias("sst2", "prod", v);
        } catch (const Error& e) {
          EXPECT_EQ(e.code(), ErrorCode::conflict) << e.what();
          EXPECT_EQ(v, 1);
        }
      }
    }
  });
  std::thread deleter([&] {
    while (!deleted) {
      try {
        reg_->delete_version("sst2", 1, "race");
        deleted = true;
      } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::conflict) << e.what();
      }
    }
  });
  mover.join();
  deleter.join();
  EXPECT_TRUE(deleted);
  EXPECT_EQ(reg_->aliases("sst2").at("prod"), 2);
  EXPECT_EQ(reg_->list_versions("sst2")[0].state, VersionState::deleted);
}

}  // namespace
}  // namespace trellis
