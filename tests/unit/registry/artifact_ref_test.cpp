// Names and references: what is valid, and that nothing that could leave the root is.
#include "registry/artifact_ref.h"

#include <gtest/gtest.h>

#include "common/error.h"
#include "registry/registry_layout.h"
#include "tests/unit/registry/registry_test_support.h"

namespace trellis {
namespace {

using testing::registry_error;

TEST(ArtifactRefTest, ParsesEveryForm) {
  ArtifactRef r = ArtifactRef::parse("sst2");
  EXPECT_EQ(r.task, "sst2");
  EXPECT_EQ(r.kind, ArtifactRef::Kind::latest);
  r = ArtifactRef::parse("sst2@latest");
  EXPECT_EQ(r.kind, ArtifactRef::Kind::latest);
  EXPECT_EQ(r.to_string(), "sst2@latest");
  r = ArtifactRef::parse("uci-sentiment@42");
  EXPECT_EQ(r.kind, ArtifactRef::Kind::version);
  EXPECT_EQ(r.version, 42);
  EXPECT_EQ(r.to_string(), "uci-sentiment@42");
  r = ArtifactRef::parse("a.b_c@prod-2");
  EXPECT_EQ(r.kind, ArtifactRef::Kind::alias);
  EXPECT_EQ(r.alias, "prod-2");
  EXPECT_EQ(r.to_string(), "a.b_c@prod-2");
  EXPECT_EQ(ArtifactRef::parse("t@999999999").version, kMaxRegistryVersion);
}

TEST(ArtifactRefTest, RefusesBadReferences) {
  for (const char* bad :
       {"",          "@1",        "task@",     "task@0",      "task@01",      "task@-1",         "task@+1",
        "task@1@2",  "task@../1", "task@1/..", "task@LATEST", "task@Prod",    "task@1234567890", "task@a/b",
        "../task@1", "ta/sk@1",   ".task@1",   "Task@1",      "task@.hidden", "task@ prod",      "task@prod\n"}) {
    const std::string msg = registry_error([&] { ArtifactRef::parse(bad); }, ErrorCode::invalid);
    EXPECT_CONTAINS(msg, "invalid reference");
  }
  const std::string with_nul("task@1\0x", 8);
  registry_error([&] { ArtifactRef::parse(with_nul); }, ErrorCode::invalid);
}

TEST(ArtifactRefTest, NameRules) {
  EXPECT_TRUE(valid_registry_task("a"));
  EXPECT_TRUE(valid_registry_task(std::string(64, 'x')));
  for (std::string bad : {"", "A", "-a", ".a", "..", ".", "a/b", "a b", "a\\b", "é"})
    EXPECT_FALSE(valid_registry_task(bad)) << bad;
  EXPECT_FALSE(valid_registry_task(std::string(65, 'x')));
  EXPECT_TRUE(valid_alias_name("prod"));
  EXPECT_TRUE(valid_alias_name("v1"));
  EXPECT_TRUE(valid_alias_name("1.0"));
  for (std::string bad : {"latest", "123", "0", "", "Prod", "../x", "a/b", ".tmp-x"})
    EXPECT_FALSE(valid_alias_name(bad)) << bad;
  EXPECT_EQ(parse_version_number("7"), 7);
  for (std::string bad : {"", "0", "07", "-7", "7a", "1234567890", " 7"})
    EXPECT_FALSE(parse_version_number(bad)) << bad;
  EXPECT_CONTAINS(registry_error([] { check_alias_name("latest"); }, ErrorCode::invalid), "reserved");
  registry_error([] { check_version_number(0); }, ErrorCode::invalid);
  registry_error([] { check_version_number(kMaxRegistryVersion + 1); }, ErrorCode::invalid);
}

TEST(ArtifactRefTest, LayoutRefusesNamesThatLeaveTheRoot) {
  RegistryLayout layout("/srv/registry");
  EXPECT_EQ(layout.version_dir("sst2", 3), "/srv/registry/sst2/3");
  EXPECT_EQ(layout.alias_link("sst2", "prod"), "/srv/registry/sst2/aliases/prod");
  for (std::string bad : {"..", "../etc", "a/../../b", "/abs", ""}) {
    registry_error([&] { layout.task_dir(bad); }, ErrorCode::invalid);
    registry_error([&] { layout.alias_link("sst2", bad); }, ErrorCode::invalid);
  }
  registry_error([&] { layout.version_dir("sst2", -1); }, ErrorCode::invalid);
  registry_error([] { RegistryLayout(""); }, ErrorCode::invalid);
}

}  // namespace
}  // namespace trellis
