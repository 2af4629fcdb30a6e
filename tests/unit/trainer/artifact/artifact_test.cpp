// Artifact directories: exact round trip, verification on load, never overwritten.
#include <fstream>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "tests/unit/trainer/test_support.h"
#include "trainer/artifact/artifact.h"
#include "trainer/io/safetensors.h"
#include "common/sha256.h"
#include "common/error.h"

namespace trellis {
namespace {

class ArtifactTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("trellis-artifact-" + std::to_string(::getpid()) + "-" +
                                                     ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  ArtifactManifest manifest() const {
    ArtifactManifest m;
    m.task = "demo";
    m.spec.task = "demo";
    m.spec.backbone = backbone_->name();
    m.spec.data.train = "/data/train.jsonl";
    m.spec.train.metric = "accuracy";
    m.backbone_name = backbone_->name();
    m.backbone_sha256 = backbone_->weights_sha256();
    m.labels = {"neg", "pos"};
    m.metrics = {{"accuracy", 0.9}};
    m.train_sha256 = std::string(64, 'a');
    m.created = utc_now_iso8601();
    return m;
  }

  std::filesystem::path dir_;
  std::shared_ptr<const Backbone> backbone_ = testing::tiny_backbone();
};

TEST_F(ArtifactTest, RoundTripIsExactAndHoldsOnlyTaskTensors) {
  TaskParams params = TaskParams::create(*backbone_, Method::houlsby, AdapterSpec{}, 2, 9);
  const auto art = dir_ / "a";
  ArtifactManifest written = write_artifact(art, manifest(), params);
  EXPECT_EQ(written.adapter_sha256, sha256_file_hex(art / kAdapterFile));
  EXPECT_EQ(written.params_trained, params.num_parameters());
  SafetensorsFile st = SafetensorsFile::open(art / kAdapterFile);
  std::vector<std::string> expected;
  for (const auto& [name, t] : params.tensors()) expected.push_back(name);
  EXPECT_EQ(st.names(), expected);
  LoadedArtifact loaded = load_artifact(art, *backbone_);
  for (const auto& [name, t] : params.tensors()) EXPECT_TRUE(loaded.params.find(name)->equal(t)) << name;
  EXPECT_EQ(loaded.manifest.labels, (std::vector<std::string>{"neg", "pos"}));
  EXPECT_EQ(loaded.manifest.spec, written.spec);
  // Nothing else in the parent directory: no staging leftovers.
  size_t entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir_)) entries += e.path().filename() == "a" ? 1 : 100;
  EXPECT_EQ(entries, 1u);
}

TEST_F(ArtifactTest, NeverOverwrites) {
  TaskParams params = TaskParams::create(*backbone_, Method::head, AdapterSpec{}, 2, 9);
  write_artifact(dir_ / "a", manifest(), params);
  const std::string before = sha256_file_hex(dir_ / "a" / kManifestFile);
  EXPECT_THROW(write_artifact(dir_ / "a", manifest(), params), Error);
  EXPECT_EQ(before, sha256_file_hex(dir_ / "a" / kManifestFile));
}

TEST_F(ArtifactTest, RefusesTamperedTensorsAndForeignBackbones) {
  TaskParams params = TaskParams::create(*backbone_, Method::houlsby, AdapterSpec{}, 2, 9);
  write_artifact(dir_ / "a", manifest(), params);
  auto other = testing::tiny_backbone(8);  // same shapes, other weights, other sha
  try {
    load_artifact(dir_ / "a", *other);
    FAIL() << "a foreign backbone must be refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("sha256"), std::string::npos) << e.what();
  }
  {
    std::fstream f(dir_ / "a" / kAdapterFile, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-3, std::ios::end);
    f.put('\x7f');
  }
  try {
    load_artifact(dir_ / "a", *backbone_);
    FAIL() << "a tampered tensor file must be refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("differs from the manifest"), std::string::npos) << e.what();
  }
}

TEST_F(ArtifactTest, BrokenManifestIsReportedWithItsPath) {
  TaskParams params = TaskParams::create(*backbone_, Method::head, AdapterSpec{}, 2, 9);
  write_artifact(dir_ / "a", manifest(), params);
  std::ofstream(dir_ / "a" / kManifestFile) << "{\"format_version\": 1, \"task\": ";
  try {
    load_artifact(dir_ / "a", *backbone_);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("manifest.json"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace trellis
