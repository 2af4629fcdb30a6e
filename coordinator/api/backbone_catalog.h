#pragma once
// BackboneCatalog: the backbones this coordinator accepts jobs for, by name, with the sha256 of
// their weights (what a worker group reports when it registers). Built once at start-up from
// the descriptors in <config-dir>/backbones/*.json; a descriptor without a pinned
// weights_sha256 gets the sha256 of its weights file. Immutable afterwards: thread-safe.
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace trellis::api {

class BackboneCatalog {
 public:
  BackboneCatalog() = default;
  // Throws trellis::Error for an unreadable descriptor; a descriptor whose weights file is
  // missing and unpinned is skipped with a line in `warnings`.
  static BackboneCatalog from_config_dirs(const std::vector<std::filesystem::path>& config_dirs,
                                          std::vector<std::string>* warnings = nullptr);
  void add(const std::string& name, const std::string& weights_sha256);

  std::optional<std::string> sha256_of(const std::string& name) const;
  std::vector<std::string> names() const;  // sorted
  std::string names_joined() const;        // "a, b" or "(none)"

 private:
  std::map<std::string, std::string> sha256_by_name_;
};

}  // namespace trellis::api
