#include "coordinator/api/backbone_catalog.h"

#include <algorithm>

#include "common/sha256.h"
#include "trainer/spec/backbone_descriptor.h"

namespace trellis::api {

namespace fs = std::filesystem;

BackboneCatalog BackboneCatalog::from_config_dirs(const std::vector<fs::path>& config_dirs,
                                                  std::vector<std::string>* warnings) {
  BackboneCatalog catalog;
  for (const fs::path& dir : config_dirs) {
    std::error_code ec;
    const fs::path backbones = dir / "backbones";
    if (!fs::is_directory(backbones, ec)) continue;
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(backbones, ec))
      if (entry.path().extension() == ".json") files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    for (const fs::path& file : files) {
      const BackboneDescriptor d = load_backbone_descriptor(file);
      if (catalog.sha256_by_name_.count(d.name)) continue;  // the first config dir wins
      if (d.weights_sha256) {
        catalog.add(d.name, *d.weights_sha256);
      } else if (fs::is_regular_file(d.weights, ec)) {
        catalog.add(d.name, sha256_file_hex(d.weights));
      } else if (warnings) {
        warnings->push_back(file.string() + ": weights " + d.weights.string() +
                            " not found and no weights_sha256 pinned; backbone '" + d.name + "' not served");
      }
    }
  }
  return catalog;
}

void BackboneCatalog::add(const std::string& name, const std::string& weights_sha256) {
  sha256_by_name_[name] = weights_sha256;
}

std::optional<std::string> BackboneCatalog::sha256_of(const std::string& name) const {
  auto it = sha256_by_name_.find(name);
  if (it == sha256_by_name_.end()) return std::nullopt;
  return it->second;
}

std::vector<std::string> BackboneCatalog::names() const {
  std::vector<std::string> out;
  for (const auto& [name, sha] : sha256_by_name_) out.push_back(name);
  return out;
}

std::string BackboneCatalog::names_joined() const {
  std::string out;
  for (const auto& [name, sha] : sha256_by_name_) out += (out.empty() ? "" : ", ") + name;
  return out.empty() ? "(none)" : out;
}

}  // namespace trellis::api
