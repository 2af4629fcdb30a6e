#include "trainer/spec/backbone_descriptor.h"

#include <algorithm>
#include <set>

#include <nlohmann/json.hpp>

#include "common/files.h"
#include "common/error.h"

namespace trellis {
namespace fs = std::filesystem;
using nlohmann::json;

bool valid_backbone_name(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); };
  if (!alnum(name[0])) return false;
  return std::all_of(name.begin(), name.end(), [&](char c) { return alnum(c) || c == '.' || c == '_' || c == '-'; });
}

BackboneDescriptor load_backbone_descriptor(const fs::path& json_file) {
  const std::string origin = json_file.string();
  const json j = read_json_file(json_file);
  auto fail = [&](const std::string& field, const std::string& msg) -> void {
    throw Error(origin + ": field '" + field + "' " + msg);
  };
  if (!j.is_object())
    throw Error(origin + ": a backbone descriptor must be a JSON object, not " + std::string(j.type_name()));
  static const std::vector<std::string> known = {"name",   "dir",   "lowercase", "weights_sha256",
                                                 "config", "vocab", "weights"};
  for (const auto& [key, value] : j.items()) {
    if (std::find(known.begin(), known.end(), key) == known.end())
      fail(key, "is unknown; known fields: name, dir, lowercase, weights_sha256, config, vocab, weights");
  }
  auto string_field = [&](const std::string& key, bool required) -> std::optional<std::string> {
    auto it = j.find(key);
    if (it == j.end()) {
      if (required) fail(key, "is required");
      return std::nullopt;
    }
    if (!it->is_string()) fail(key, "must be a string, not " + std::string(it->type_name()));
    if (it->get<std::string>().empty()) fail(key, "must not be empty");
    return it->get<std::string>();
  };

  BackboneDescriptor d;
  d.name = *string_field("name", true);
  if (!valid_backbone_name(d.name)) fail("name", "must match [A-Za-z0-9][A-Za-z0-9._-]{0,63} (got '" + d.name + "')");

  const fs::path base = fs::absolute(json_file).parent_path();
  d.dir = (base / *string_field("dir", true)).lexically_normal();  // an absolute dir replaces base
  auto file = [&](const std::string& key, const char* fallback) {
    return (d.dir / string_field(key, false).value_or(fallback)).lexically_normal();
  };
  d.config = file("config", "config.json");
  d.vocab = file("vocab", "vocab.txt");
  d.weights = file("weights", "model.safetensors");

  if (auto it = j.find("lowercase"); it != j.end()) {
    if (!it->is_boolean()) fail("lowercase", "must be true or false, not " + std::string(it->type_name()));
    d.lowercase = it->get<bool>();
  }
  if (auto it = j.find("weights_sha256"); it != j.end() && !it->is_null()) {
    if (!it->is_string()) fail("weights_sha256", "must be a string or null, not " + std::string(it->type_name()));
    std::string h = it->get<std::string>();
    std::transform(h.begin(), h.end(), h.begin(),
                   [](char c) { return (c >= 'A' && c <= 'F') ? char(c - 'A' + 'a') : c; });
    if (h.size() != 64 || h.find_first_not_of("0123456789abcdef") != std::string::npos)
      fail("weights_sha256", "must be 64 hexadecimal digits or null (got '" + it->get<std::string>() + "')");
    d.weights_sha256 = h;
  }
  return d;
}

BackboneDescriptor find_backbone(const std::string& name, const std::vector<fs::path>& config_dirs) {
  if (!valid_backbone_name(name))
    throw Error("backbone name '" + name + "' is invalid: it must match [A-Za-z0-9][A-Za-z0-9._-]{0,63}");
  std::set<std::string> available;
  std::string searched;
  for (const auto& root : config_dirs) {
    const fs::path dir = root / "backbones";
    const fs::path candidate = dir / (name + ".json");
    std::error_code ec;
    if (fs::is_regular_file(candidate, ec)) {
      BackboneDescriptor d = load_backbone_descriptor(candidate);
      if (d.name != name)
        throw Error(candidate.string() + ": field 'name' is '" + d.name + "' but the file is named for '" + name + "'");
      return d;
    }
    searched += (searched.empty() ? "" : ", ") + dir.string();
    for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
      if (it->path().extension() == ".json") available.insert(it->path().stem().string());
    }
  }
  std::string list;
  for (const auto& n : available) list += (list.empty() ? "" : ", ") + n;
  throw Error("unknown backbone '" + name + "'; available: " + (list.empty() ? "none" : list) + " (searched " +
              (searched.empty() ? "no directories" : searched) + ")");
}

}  // namespace trellis
