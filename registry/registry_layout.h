#pragma once
// Where things live under a registry root. Every path function checks its names first (task and
// alias names, version numbers: artifact_ref.h) and throws Error(invalid), so no caller
// can build a path outside the root.
//
//   <root>/.trellis-registry                  marker: this directory is a registry root
//   <root>/<task>/<N>/adapter.safetensors     version N (N = 1, 2, ...; a directory, never modified)
//   <root>/<task>/<N>/manifest.json           its manifest (carries task and version N)
//   <root>/<task>/<N>/tombstone.json          present once version N was deleted (tensors removed)
//   <root>/<task>/aliases/<alias>             symlink "../<N>"
//   <root>/<task>/aliases/.tmp-<unique>       an alias being written (swept when stale)
//   <root>/<task>/.staging/<unique>/          a publish in progress (swept when stale)
//   <root>/<task>/.lock                       lock file of the task's admin operations
//
// Thread-safe (immutable). Scans read the filesystem each time; failures throw Error(io).
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace trellis {

class RegistryLayout {
 public:
  static constexpr const char* kMarkerFile = ".trellis-registry";
  static constexpr const char* kTombstoneFile = "tombstone.json";
  static constexpr const char* kAliasesDir = "aliases";
  static constexpr const char* kStagingDir = ".staging";
  static constexpr const char* kLockFile = ".lock";

  explicit RegistryLayout(std::filesystem::path root);

  const std::filesystem::path& root() const { return root_; }
  std::filesystem::path marker() const { return root_ / kMarkerFile; }
  std::filesystem::path task_dir(const std::string& task) const;
  std::filesystem::path version_dir(const std::string& task, int64_t version) const;
  std::filesystem::path aliases_dir(const std::string& task) const;
  std::filesystem::path alias_link(const std::string& task, const std::string& alias) const;
  std::filesystem::path staging_root(const std::string& task) const;
  std::filesystem::path lock_file(const std::string& task) const;

  // Task names that have a directory under the root (real directories only), sorted.
  std::vector<std::string> scan_tasks() const;
  // Every entry of the task directory whose name is a canonical version number, sorted ascending
  // (directories or not: a number is taken once anything holds its name). An absent task
  // directory gives an empty list.
  std::vector<int64_t> scan_versions(const std::string& task) const;

 private:
  std::filesystem::path root_;
};

}  // namespace trellis
