// Publishing, listing, resolving and verifying versions; bad input to each.
#include <gtest/gtest.h>

#include <fstream>

#include "registry/artifact_registry.h"
#include "tests/unit/registry/registry_test_support.h"
#include "common/files.h"
#include "common/sha256.h"

namespace trellis {
namespace {

using testing::registry_error;
using testing::tensor_bytes;
using testing::test_manifest;
namespace fs = std::filesystem;

class PublishTest : public testing::RegistryTest {};

TEST_F(PublishTest, PublishListResolveRoundTrip) {
  ArtifactRegistry reg(options());
  const auto bytes1 = tensor_bytes(1);
  ResolvedVersion v1 = reg.publish("sst2", test_manifest("sst2", 0.80), bytes1, {"job-17", 2});
  EXPECT_EQ(v1.version, 1);
  EXPECT_EQ(v1.dir, root() / "sst2" / "1");
  EXPECT_EQ(v1.manifest.version, 1);
  EXPECT_EQ(v1.manifest.job_id, "job-17");
  EXPECT_EQ(v1.manifest.attempt, 2);
  ASSERT_TRUE(v1.manifest.published);
  EXPECT_EQ(v1.manifest.published->size(), 20u);  // YYYY-MM-DDTHH:MM:SSZ
  EXPECT_EQ(v1.manifest.adapter_sha256, sha256_hex(bytes1));
  // Exactly the bytes, and a manifest that carries its own version on disk.
  EXPECT_EQ(read_binary_file(v1.adapter_path), bytes1);
  const ArtifactManifest on_disk = read_manifest(v1.dir);
  EXPECT_EQ(on_disk.version, 1);
  EXPECT_EQ(on_disk.job_id, "job-17");
  EXPECT_EQ(on_disk.published, v1.manifest.published);

  EXPECT_EQ(reg.publish("sst2", test_manifest("sst2", 0.85), tensor_bytes(2)).version, 2);
  EXPECT_EQ(reg.publish("cola", test_manifest("cola", 0.5), tensor_bytes(3)).version, 1);

  EXPECT_EQ(reg.resolve("sst2@1").manifest.metrics.at("accuracy"), 0.80);
  EXPECT_EQ(reg.resolve("sst2@latest").version, 2);
  EXPECT_EQ(reg.resolve("sst2").version, 2);
  EXPECT_EQ(reg.manifest("sst2", 2).metrics.at("accuracy"), 0.85);

  const auto tasks = reg.list_tasks();
  ASSERT_EQ(tasks.size(), 2u);
  EXPECT_EQ(tasks[0].task, "cola");
  EXPECT_EQ(tasks[1].task, "sst2");
  EXPECT_EQ(tasks[1].latest, 2);
  EXPECT_EQ(tasks[1].versions, 2);
  EXPECT_EQ(tasks[1].metrics.at("accuracy"), 0.85);

  const auto versions = reg.list_versions("sst2");
  ASSERT_EQ(versions.size(), 2u);
  EXPECT_EQ(versions[0].version, 1);
  EXPECT_EQ(versions[0].state, VersionState::ok);
  EXPECT_EQ(versions[0].job_id, "job-17");
  EXPECT_EQ(versions[0].attempt, 2);
  EXPECT_FALSE(versions[0].created.empty());
  EXPECT_TRUE(versions[0].published);
  EXPECT_EQ(versions[1].metrics.at("accuracy"), 0.85);

  // No staging leftovers; the task directory holds the versions and the (empty) staging area.
  EXPECT_EQ(names(root() / "sst2"), (std::vector<std::string>{".staging", "1", "2"}));
  EXPECT_TRUE(names(root() / "sst2" / ".staging").empty());
  EXPECT_EQ(names(root() / "sst2" / "1"), (std::vector<std::string>{"adapter.safetensors", "manifest.json"}));
}

TEST_F(PublishTest, PublishesAnArtifactDirectory) {
  ArtifactRegistry reg(options());
  // An artifact as `trellis train` writes it.
  const fs::path art = base_ / "art";
  fs::create_directories(art);
  const auto bytes = tensor_bytes(5);
  ArtifactManifest m = test_manifest("sst2");
  m.adapter_sha256 = sha256_hex(bytes);
  write_file_durably(art / kAdapterFile, std::span<const std::byte>(bytes));
  write_file_durably(art / kManifestFile, m.to_json().dump(2));
  const ResolvedVersion v = reg.publish("sst2", art, {"job-1", std::nullopt});
  EXPECT_EQ(v.version, 1);
  EXPECT_EQ(read_manifest(v.dir).job_id, "job-1");
  EXPECT_FALSE(read_manifest(v.dir).attempt);
  EXPECT_TRUE(reg.verify("sst2", 1).ok);
  // The source is left as it was.
  EXPECT_FALSE(read_manifest(art).version);

  // A tampered source, a missing one, another task's: refused, nothing published.
  {
    std::fstream f(art / kAdapterFile, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-1, std::ios::end);
    f.put('\x7f');
  }
  EXPECT_CONTAINS(registry_error([&] { reg.publish("sst2", art); }, ErrorCode::invalid), "sha256");
  EXPECT_CONTAINS(registry_error([&] { reg.publish("sst2", base_ / "nope"); }, ErrorCode::invalid), "manifest.json");
  EXPECT_EQ(reg.list_versions("sst2").size(), 1u);
}

TEST_F(PublishTest, RefusesBadPublishes) {
  ArtifactRegistry reg(options());
  const auto bytes = tensor_bytes(1);
  for (std::string bad : std::vector<std::string>{"", "../x", "a/b", "Sst2", ".staging", std::string(65, 'a')})
    registry_error([&] { reg.publish(bad, test_manifest("sst2"), bytes); }, ErrorCode::invalid);
  EXPECT_CONTAINS(registry_error([&] { reg.publish("cola", test_manifest("sst2"), bytes); }, ErrorCode::invalid),
                  "task 'sst2'");
  const std::string junk = "not a safetensors file";
  registry_error([&] { reg.publish("sst2", test_manifest("sst2"), std::as_bytes(std::span(junk))); },
                 ErrorCode::invalid);
  ArtifactManifest wrong_sha = test_manifest("sst2");
  wrong_sha.adapter_sha256 = std::string(64, 'c');
  EXPECT_CONTAINS(registry_error([&] { reg.publish("sst2", wrong_sha, bytes); }, ErrorCode::invalid),
                  "differs from the manifest");
  ArtifactManifest one_label = test_manifest("sst2");
  one_label.labels = {"pos"};
  EXPECT_CONTAINS(registry_error([&] { reg.publish("sst2", one_label, bytes); }, ErrorCode::invalid), "two labels");
  registry_error(
      [&] {
        reg.publish("sst2", test_manifest("sst2"), bytes, {"has space", std::nullopt});
      },
      ErrorCode::invalid);
  registry_error([&] { reg.publish("sst2", test_manifest("sst2"), bytes, {std::nullopt, 0}); }, ErrorCode::invalid);
  // Nothing was created anywhere: not in the root, not outside it.
  EXPECT_EQ(names(root()), (std::vector<std::string>{".trellis-registry"}));
  EXPECT_EQ(names(base_), (std::vector<std::string>{"registry"}));
}

TEST_F(PublishTest, UnknownNamesListWhatExists) {
  ArtifactRegistry reg(options());
  reg.publish("sst2", test_manifest("sst2"), tensor_bytes(1));
  reg.publish("sst2", test_manifest("sst2"), tensor_bytes(2));
  reg.publish("cola", test_manifest("cola"), tensor_bytes(3));
  reg.set_alias("sst2", "prod", 1);
  EXPECT_CONTAINS(registry_error([&] { reg.resolve("mnli@1"); }, ErrorCode::not_found), "tasks: cola, sst2");
  EXPECT_CONTAINS(registry_error([&] { reg.resolve("sst2@7"); }, ErrorCode::not_found), "versions: 1, 2");
  EXPECT_CONTAINS(registry_error([&] { reg.resolve("sst2@staging"); }, ErrorCode::not_found), "aliases: latest, prod");
  registry_error([&] { reg.list_versions("mnli"); }, ErrorCode::not_found);
  registry_error([&] { reg.manifest("sst2", 3); }, ErrorCode::not_found);
  registry_error([&] { reg.verify("mnli", 1); }, ErrorCode::not_found);
  registry_error([&] { reg.aliases("mnli"); }, ErrorCode::not_found);
  registry_error([&] { reg.resolve("sst2@0"); }, ErrorCode::invalid);
  registry_error([&] { reg.manifest("sst2", 0); }, ErrorCode::invalid);
  registry_error([&] { reg.list_versions("../sst2"); }, ErrorCode::invalid);
}

TEST_F(PublishTest, BrokenVersionsAreListedNeverServed) {
  ArtifactRegistry reg(options());
  reg.publish("sst2", test_manifest("sst2"), tensor_bytes(1));
  reg.publish("sst2", test_manifest("sst2"), tensor_bytes(2));
  reg.publish("sst2", test_manifest("sst2"), tensor_bytes(3));
  reg.publish("sst2", test_manifest("sst2"), tensor_bytes(4));
  write_text(root() / "sst2" / "3" / kManifestFile, "{\"format_version\": 1, \"task\": ");  // truncated
  // A copy of version 1 under another number carries the wrong version: broken as well.
  fs::create_directories(root() / "sst2" / "9");
  fs::copy(root() / "sst2" / "1", root() / "sst2" / "9");
  fs::remove(root() / "sst2" / "2" / kAdapterFile);
  // A manifest that is a symlink (out of the root) is not followed.
  fs::rename(root() / "sst2" / "4" / kManifestFile, base_ / "outside.json");
  fs::create_symlink(base_ / "outside.json", root() / "sst2" / "4" / kManifestFile);

  const auto versions = reg.list_versions("sst2");
  ASSERT_EQ(versions.size(), 5u);
  EXPECT_EQ(versions[0].state, VersionState::ok);
  EXPECT_EQ(versions[1].state, VersionState::broken);
  EXPECT_CONTAINS(versions[1].problem, "adapter.safetensors");
  EXPECT_EQ(versions[2].state, VersionState::broken);
  EXPECT_CONTAINS(versions[2].problem, "invalid JSON");
  EXPECT_EQ(versions[3].state, VersionState::broken);
  EXPECT_CONTAINS(versions[3].problem, "not a regular file");
  EXPECT_EQ(versions[4].state, VersionState::broken);
  EXPECT_CONTAINS(versions[4].problem, "names version 1, not 9");
  EXPECT_CONTAINS(registry_error([&] { reg.resolve("sst2@3"); }, ErrorCode::broken), "manifest.json");
  registry_error([&] { reg.manifest("sst2", 9); }, ErrorCode::broken);
  registry_error([&] { reg.verify("sst2", 2); }, ErrorCode::broken);
  EXPECT_EQ(reg.resolve("sst2@latest").version, 1);  // the highest servable one
  EXPECT_EQ(reg.list_tasks().at(0).latest, 1);
  // A new publish still takes a fresh number above every taken one.
  EXPECT_EQ(reg.publish("sst2", test_manifest("sst2"), tensor_bytes(5)).version, 10);
}

TEST_F(PublishTest, VerifyDetectsATamperedTensorFile) {
  ArtifactRegistry reg(options());
  const ResolvedVersion v = reg.publish("sst2", test_manifest("sst2"), tensor_bytes(1));
  Verification ok = reg.verify("sst2", 1);
  EXPECT_TRUE(ok.ok);
  EXPECT_EQ(ok.actual_sha256, ok.expected_sha256);
  {
    std::fstream f(v.adapter_path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-2, std::ios::end);
    f.put('\x01');
  }
  Verification bad = reg.verify("sst2", 1);
  EXPECT_FALSE(bad.ok);
  EXPECT_EQ(bad.expected_sha256, v.manifest.adapter_sha256);
  EXPECT_NE(bad.actual_sha256, bad.expected_sha256);
  EXPECT_EQ(bad.adapter_path, v.adapter_path);
}

TEST_F(PublishTest, RootMustBeARegistry) {
  RegistryOptions o = options();
  o.create = false;
  EXPECT_CONTAINS(registry_error([&] { ArtifactRegistry reg(o); }, ErrorCode::io), "not a directory");
  fs::create_directories(root());  // e.g. an empty mount point
  EXPECT_CONTAINS(registry_error([&] { ArtifactRegistry reg(o); }, ErrorCode::io), "mounted");
  { ArtifactRegistry created(options()); }
  ArtifactRegistry reg(o);
  EXPECT_TRUE(reg.list_tasks().empty());
  // The shared filesystem goes away under a running registry: listings fail, they are not empty.
  reg.publish("sst2", test_manifest("sst2"), tensor_bytes(1));
  fs::remove(root() / ".trellis-registry");
  registry_error([&] { reg.list_tasks(); }, ErrorCode::io);
  registry_error([&] { reg.list_versions("sst2"); }, ErrorCode::io);
  registry_error([&] { reg.publish("sst2", test_manifest("sst2"), tensor_bytes(1)); }, ErrorCode::io);
  registry_error([] { ArtifactRegistry reg(RegistryOptions{}); }, ErrorCode::invalid);
}

TEST_F(PublishTest, AFailedPublishLeavesNothing) {
  RegistryOptions o = options();
  o.before_rename = [](const fs::path&, int64_t) { throw std::runtime_error("injected failure"); };
  ArtifactRegistry failing(o);
  EXPECT_CONTAINS(
      registry_error([&] { failing.publish("sst2", test_manifest("sst2"), tensor_bytes(1)); }, ErrorCode::io),
      "injected failure");
  EXPECT_TRUE(names(root() / "sst2" / ".staging").empty());
  registry_error([&] { failing.list_versions("sst2"); }, ErrorCode::not_found);
  ArtifactRegistry reg(options());
  EXPECT_EQ(reg.publish("sst2", test_manifest("sst2"), tensor_bytes(1)).version, 1);
}

}  // namespace
}  // namespace trellis
