// The artifact manifest without LibTorch: round trip, optional lineage fields, their validation.
#include "trainer/artifact/manifest.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/support/error_text.h"

namespace trellis {
namespace {

using testing::error_of;

ArtifactManifest example() {
  ArtifactManifest m;
  m.task = "demo";
  m.spec.task = "demo";
  m.spec.data.train = "train.jsonl";
  m.spec.train.metric = "accuracy";
  m.backbone_name = m.spec.backbone;
  m.backbone_sha256 = std::string(64, 'b');
  m.labels = {"neg", "pos"};
  m.metrics = {{"accuracy", 0.75}};
  m.train_sha256 = std::string(64, 'a');
  m.adapter_sha256 = std::string(64, 'c');
  m.created = "2024-01-02T03:04:05Z";
  m.trellis_version = "0.1.0";
  return m;
}

TEST(ManifestTest, WithoutLineageTheFormatIsUnchanged) {
  const nlohmann::json j = example().to_json();
  for (const char* key : {"job_id", "attempt", "version", "published"}) EXPECT_FALSE(j.contains(key)) << key;
  const ArtifactManifest back = ArtifactManifest::from_json(j, "m");
  EXPECT_FALSE(back.job_id || back.attempt || back.version || back.published);
  EXPECT_EQ(back.spec, example().spec);
  EXPECT_EQ(back.metrics, example().metrics);
}

TEST(ManifestTest, LineageRoundTrips) {
  ArtifactManifest m = example();
  m.job_id = "job-0042";
  m.attempt = 2;
  m.version = 7;
  m.published = "2024-01-02T04:00:00Z";
  const nlohmann::json j = m.to_json();
  EXPECT_EQ(j["version"], 7);
  EXPECT_EQ(j["job_id"], "job-0042");
  const ArtifactManifest back = ArtifactManifest::from_json(j, "m");
  EXPECT_EQ(back.job_id, m.job_id);
  EXPECT_EQ(back.attempt, 2);
  EXPECT_EQ(back.version, 7);
  EXPECT_EQ(back.published, m.published);
  // null reads as absent
  nlohmann::json nulls = example().to_json();
  nulls["job_id"] = nullptr;
  nulls["version"] = nullptr;
  EXPECT_FALSE(ArtifactManifest::from_json(nulls, "m").version);
}

TEST(ManifestTest, BadLineageNamesTheField) {
  auto with = [](const char* key, nlohmann::json value) {
    nlohmann::json j = example().to_json();
    j[key] = std::move(value);
    return error_of([&] { ArtifactManifest::from_json(j, "x/manifest.json"); });
  };
  EXPECT_HAS(with("version", 0), "x/manifest.json: field 'version' must be >= 1");
  EXPECT_HAS(with("version", "3"), "field 'version' has the wrong type");
  EXPECT_HAS(with("version", 1.5), "field 'version' has the wrong type");
  EXPECT_HAS(with("attempt", -1), "field 'attempt' must be >= 1");
  EXPECT_HAS(with("job_id", ""), "field 'job_id'");
  EXPECT_HAS(with("job_id", "a b"), "field 'job_id'");
  EXPECT_HAS(with("job_id", std::string(129, 'j')), "field 'job_id'");
  EXPECT_HAS(with("job_id", 5), "field 'job_id' has the wrong type");
  EXPECT_HAS(with("published", 5), "field 'published' has the wrong type");
}

TEST(ManifestTest, TimeFormat) {
  EXPECT_EQ(utc_iso8601(std::chrono::system_clock::time_point(std::chrono::seconds(86400 + 3661))),
            "1970-01-02T01:01:01Z");
  EXPECT_EQ(utc_now_iso8601().size(), 20u);
}

}  // namespace
}  // namespace trellis
