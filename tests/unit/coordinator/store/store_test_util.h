#pragma once
// Helpers for the job store tests: specs, requests, groups and a temporary database folder.
#include <filesystem>
#include <memory>
#include <random>
#include <string>

#include "coordinator/store/job_store.h"
#include "coordinator/store/memory_job_store.h"
#include "coordinator/store/sqlite_job_store.h"

namespace trellis::test {

inline const std::string kShaA(64, 'a');
inline const std::string kShaB(64, 'b');

inline JobSpec make_spec(const std::string& task = "sst2") {
  JobSpec spec;
  spec.task = task;
  spec.data.train = "train.csv";
  return spec;
}

inline SubmitRequest make_request(const std::string& task = "sst2", int priority = 0, const std::string& sha = kShaA,
                                  int max_attempts = 3) {
  SubmitRequest r;
  r.spec = make_spec(task);
  r.backbone_sha256 = sha;
  r.priority = priority;
  r.max_attempts = max_attempts;
  return r;
}

inline Group make_group(const std::string& id = "g1", const std::string& sha = kShaA) {
  return Group{id, "all-MiniLM-L6-v2", sha, 2, "host-1", {}};
}

// A fresh folder under the system temp dir, removed at destruction.
class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            ("trellis-store-test-" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace trellis::test
