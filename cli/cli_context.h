#pragma once
// Options shared by the trellis subcommands, and the helpers they have in common.
#include <filesystem>
#include <memory>
#include <string>

namespace trellis {

class Backbone;

struct CliContext {
  std::filesystem::path config_dir;  // holds backbones/<name>.json; --config-dir or TRELLIS_CONFIG_DIR
  int threads = 0;                   // intra-op threads; 0: every core of this machine
  bool quiet = false;                // no progress on stderr
};

// Applies the thread count to LibTorch (intra-op = threads, inter-op = 1).
void apply_threads(const CliContext& ctx);

// Finds <config_dir>/backbones/<name>.json and loads the backbone (trellis::Error if unknown).
std::shared_ptr<const Backbone> load_backbone_by_name(const CliContext& ctx, const std::string& name);

}  // namespace trellis
