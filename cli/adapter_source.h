#pragma once
// Where `--adapter X` points: an artifact directory when X is one, otherwise a registry
// reference (`task@3`, `task@latest`, `task@prod`, `task`) resolved in the registry of the
// context (--registry / TRELLIS_REGISTRY). No LibTorch. Throws trellis::Error naming X.
#include <filesystem>
#include <string>

#include "cli/cli_context.h"

namespace trellis {

struct AdapterLocation {
  std::filesystem::path dir;  // holds adapter.safetensors and manifest.json
  std::string name;           // how answers name it: the reference as given ("task@3", or the directory)
};

AdapterLocation locate_adapter(const std::string& arg, const CliContext& ctx);

}  // namespace trellis
