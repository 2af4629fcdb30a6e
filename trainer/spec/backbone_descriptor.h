#pragma once
// Backbone descriptors: small JSON files (configs/backbones/<name>.json) that name a frozen
// backbone and say where its files lie, e.g.
//   {"name": "all-MiniLM-L6-v2", "dir": "../../assets/backbones/all-MiniLM-L6-v2",
//    "lowercase": true, "weights_sha256": null}
// Optional "config", "vocab", "weights": file names relative to dir (default config.json,
// vocab.txt, model.safetensors). Loading checks the descriptor, not the files it points to:
// the backbone loader reports missing files and verifies weights_sha256.
// Pure functions of the filesystem; thread-safe. Errors are trellis::Error naming the file/field.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace trellis {

struct BackboneDescriptor {
  std::string name;           // [A-Za-z0-9][A-Za-z0-9._-]{0,63}
  std::filesystem::path dir;  // absolute: resolved against the descriptor file's directory
  std::filesystem::path config, vocab,
      weights;            // absolute file paths (default dir/config.json, dir/vocab.txt, dir/model.safetensors)
  bool lowercase = true;  // the tokenizer lower-cases (and strips accents) first
  std::optional<std::string> weights_sha256;  // expected sha256 of `weights` (64 lowercase hex), if pinned
  friend bool operator==(const BackboneDescriptor&, const BackboneDescriptor&) = default;
};

BackboneDescriptor load_backbone_descriptor(const std::filesystem::path& json_file);

// Loads <dir>/backbones/<name>.json from the first config dir that has it (a config dir is
// what `trellis --config-dir` names, e.g. this repository's configs/). An invalid
// name, an unknown name (the error lists the names available in all search dirs) or a descriptor
// whose "name" differs from <name> is an error.
BackboneDescriptor find_backbone(const std::string& name, const std::vector<std::filesystem::path>& config_dirs);

// True if `name` matches [A-Za-z0-9][A-Za-z0-9._-]{0,63} (no path separators, no leading dot).
bool valid_backbone_name(const std::string& name);

}  // namespace trellis
