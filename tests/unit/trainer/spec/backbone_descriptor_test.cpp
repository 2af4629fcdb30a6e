#include "trainer/spec/backbone_descriptor.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "common/error.h"

namespace trellis {
namespace {

namespace fs = std::filesystem;

class BackboneDescriptorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("trellis_backbone_test_" + std::to_string(::getpid()));
    fs::create_directories(root_ / "a/configs/backbones");
    fs::create_directories(root_ / "b/configs/backbones");
  }
  void TearDown() override { fs::remove_all(root_); }
  fs::path write(const fs::path& rel, const std::string& text) {
    std::ofstream(root_ / rel) << text;
    return root_ / rel;
  }
  std::string error_of(const fs::path& rel, const std::string& text) {
    fs::path p = write(rel, text);
    try {
      load_backbone_descriptor(p);
    } catch (const Error& e) {
      std::string msg = e.what();
      EXPECT_EQ(msg.rfind(p.string() + ": ", 0), 0u) << msg;
      return msg;
    }
    return "(no error)";
  }
  fs::path root_;
};

#define EXPECT_CONTAINS(haystack, needle) EXPECT_NE((haystack).find(needle), std::string::npos) << (haystack)

TEST_F(BackboneDescriptorTest, DefaultsResolveAgainstTheFile) {
  fs::path p = write("a/configs/backbones/m.json", R"({"name": "m", "dir": "../../assets/m"})");
  BackboneDescriptor d = load_backbone_descriptor(p);
  EXPECT_EQ(d.name, "m");
  EXPECT_EQ(d.dir, root_ / "a/assets/m");
  EXPECT_EQ(d.config, root_ / "a/assets/m/config.json");
  EXPECT_EQ(d.vocab, root_ / "a/assets/m/vocab.txt");
  EXPECT_EQ(d.weights, root_ / "a/assets/m/model.safetensors");
  EXPECT_TRUE(d.lowercase);
  EXPECT_FALSE(d.weights_sha256.has_value());
  EXPECT_TRUE(d.dir.is_absolute());
}

TEST_F(BackboneDescriptorTest, AllFields) {
  std::string hash(64, 'A');
  fs::path p = write("a/configs/backbones/Cased-1.json",
                     R"({"name": "Cased-1", "dir": "/opt/models/x", "lowercase": false, "weights_sha256": ")" + hash +
                         R"(", "config": "cfg.json", "vocab": "sub/v.txt", "weights": "/elsewhere/w.safetensors"})");
  BackboneDescriptor d = load_backbone_descriptor(p);
  EXPECT_EQ(d.dir, "/opt/models/x");
  EXPECT_EQ(d.config, "/opt/models/x/cfg.json");
  EXPECT_EQ(d.vocab, "/opt/models/x/sub/v.txt");
  EXPECT_EQ(d.weights, "/elsewhere/w.safetensors");
  EXPECT_FALSE(d.lowercase);
  EXPECT_EQ(d.weights_sha256, std::string(64, 'a'));  // normalised to lower case
}

TEST_F(BackboneDescriptorTest, Errors) {
  const fs::path f = "a/x.json";
  EXPECT_CONTAINS(error_of(f, "{"), "invalid JSON");
  EXPECT_CONTAINS(error_of(f, "[]"), "must be a JSON object");
  EXPECT_CONTAINS(error_of(f, R"({"dir": "d"})"), "field 'name' is required");
  EXPECT_CONTAINS(error_of(f, R"({"name": "m"})"), "field 'dir' is required");
  EXPECT_CONTAINS(error_of(f, R"({"name": "m", "dir": ""})"), "field 'dir' must not be empty");
  EXPECT_CONTAINS(error_of(f, R"({"name": 3, "dir": "d"})"), "field 'name' must be a string");
  EXPECT_CONTAINS(error_of(f, R"({"name": "../m", "dir": "d"})"), "field 'name' must match");
  EXPECT_CONTAINS(error_of(f, R"({"name": "m", "dir": "d", "lowercase": "yes"})"),
                  "field 'lowercase' must be true or false");
  EXPECT_CONTAINS(error_of(f, R"({"name": "m", "dir": "d", "weights_sha256": "abc"})"),
                  "field 'weights_sha256' must be 64 hexadecimal");
  EXPECT_CONTAINS(error_of(f, R"({"name": "m", "dir": "d", "weights_sha256": 5})"),
                  "field 'weights_sha256' must be a string or null");
  EXPECT_CONTAINS(error_of(f, R"({"name": "m", "dir": "d", "vocab": 5})"), "field 'vocab' must be a string");
  EXPECT_CONTAINS(error_of(f, R"({"name": "m", "dir": "d", "tokenizer": "x"})"), "field 'tokenizer' is unknown");
  EXPECT_CONTAINS(error_of(f, R"({"name": "m", "name": "n", "dir": "d"})"), "'name' appears more than once");
  try {
    load_backbone_descriptor(root_ / "missing.json");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_CONTAINS(std::string(e.what()), "missing.json");
  }
}

TEST_F(BackboneDescriptorTest, FindSearchesDirsInOrder) {
  write("a/configs/backbones/m.json", R"({"name": "m", "dir": "from-a"})");
  write("b/configs/backbones/m.json", R"({"name": "m", "dir": "from-b"})");
  write("b/configs/backbones/only-b.json", R"({"name": "only-b", "dir": "x"})");
  EXPECT_EQ(find_backbone("m", {root_ / "a" / "configs", root_ / "b" / "configs"}).dir,
            root_ / "a/configs/backbones/from-a");
  EXPECT_EQ(find_backbone("m", {root_ / "b" / "configs", root_ / "a" / "configs"}).dir,
            root_ / "b/configs/backbones/from-b");
  EXPECT_EQ(find_backbone("only-b", {root_ / "a" / "configs", root_ / "b" / "configs"}).name, "only-b");
}

TEST_F(BackboneDescriptorTest, FindErrors) {
  write("a/configs/backbones/m.json", R"({"name": "m", "dir": "x"})");
  write("b/configs/backbones/k.json", R"({"name": "k", "dir": "x"})");
  write("b/configs/backbones/wrong.json", R"({"name": "other", "dir": "x"})");
  try {
    find_backbone("nope", {root_ / "a" / "configs", root_ / "b" / "configs", root_ / "c" / "configs"});
    ADD_FAILURE();
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_CONTAINS(msg, "unknown backbone 'nope'; available: k, m, wrong");
    EXPECT_CONTAINS(msg, (root_ / "c/configs/backbones").string());
  }
  EXPECT_THROW(find_backbone("../a/configs/backbones/m", {root_ / "a" / "configs"}), Error);
  EXPECT_THROW(find_backbone("", {root_ / "a" / "configs"}), Error);
  try {
    find_backbone("wrong", {root_ / "b" / "configs"});
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_CONTAINS(std::string(e.what()), "field 'name' is 'other'");
  }
  try {
    find_backbone("m", {});
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_CONTAINS(std::string(e.what()), "available: none");
  }
}

TEST(BackboneDescriptorRepo, ShippedDescriptorLoads) {
  BackboneDescriptor d = find_backbone("all-MiniLM-L6-v2", {fs::path(TRELLIS_SOURCE_DIR) / "configs"});
  EXPECT_EQ(d.name, "all-MiniLM-L6-v2");
  EXPECT_EQ(d.dir, (fs::path(TRELLIS_SOURCE_DIR) / "assets/backbones/all-MiniLM-L6-v2").lexically_normal());
  EXPECT_EQ(d.weights.filename(), "model.safetensors");
  EXPECT_TRUE(d.lowercase);
}

TEST(BackboneDescriptorName, Pattern) {
  EXPECT_TRUE(valid_backbone_name("all-MiniLM-L6-v2"));
  EXPECT_TRUE(valid_backbone_name("bert_base.v1"));
  EXPECT_FALSE(valid_backbone_name(".hidden"));
  EXPECT_FALSE(valid_backbone_name("a/b"));
  EXPECT_FALSE(valid_backbone_name(std::string(65, 'a')));
  EXPECT_TRUE(valid_backbone_name(std::string(64, 'a')));
}

}  // namespace
}  // namespace trellis
