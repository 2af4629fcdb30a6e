#pragma once
// Shared helpers of the registry tests: a temporary registry root, valid manifests and tensor files.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstddef>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "registry/artifact_registry.h"
#include "trainer/artifact/manifest.h"
#include "trainer/io/safetensors.h"

namespace trellis::testing {

namespace fs = std::filesystem;

#define EXPECT_CONTAINS(haystack, needle) EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << (haystack)

// Runs `f`, expects a Error of `kind`, returns its message ("" if none was thrown).
inline std::string registry_error(const std::function<void()>& f, ErrorCode kind) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(to_string(e.code()), to_string(kind)) << e.what();
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not a Error: " << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no error thrown; expected " << to_string(kind);
  return "";
}

// The bytes of a small, valid safetensors file whose contents depend on `seed`.
inline std::vector<std::byte> tensor_bytes(int seed) {
  std::vector<float> w(8);
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(seed) + 0.125f * static_cast<float>(i);
  return serialize_safetensors({{"classifier.weight", DType::F32, {2, 4}, w.data(), w.size() * sizeof(float)}}, {});
}

// A valid manifest for `task` (adapter_sha256 left empty: publish fills it in).
inline ArtifactManifest test_manifest(const std::string& task, double accuracy = 0.9) {
  ArtifactManifest m;
  m.task = task;
  m.spec.task = task;
  m.spec.data.train = "train.jsonl";
  m.spec.train.metric = "accuracy";
  m.backbone_name = m.spec.backbone;
  m.backbone_sha256 = std::string(64, 'b');
  m.labels = {"neg", "pos"};
  m.metrics = {{"accuracy", accuracy}};
  m.train_sha256 = std::string(64, 'a');
  m.created = utc_now_iso8601();
  m.trellis_version = "0.1.0";
  return m;
}

// A fresh directory per test; `root()` is a registry root inside it (not created).
class RegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = fs::temp_directory_path() / ("trellis-registry-" + std::to_string(::getpid()) + "-" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(base_);
    fs::create_directories(base_);
  }
  void TearDown() override { fs::remove_all(base_); }

  fs::path root() const { return base_ / "registry"; }
  RegistryOptions options() const {
    RegistryOptions o;
    o.root = root();
    o.create = true;
    return o;
  }
  // Names in `dir`, sorted (hidden ones included).
  static std::vector<std::string> names(const fs::path& dir) {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }
  static void write_text(const fs::path& path, const std::string& text) {
    std::ofstream(path, std::ios::binary) << text;
  }

  fs::path base_;
};

}  // namespace trellis::testing
