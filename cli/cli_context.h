#pragma once
// Options shared by the trellis subcommands (parsed once in main).
#include <filesystem>

namespace trellis {

struct CliContext {
  std::filesystem::path config_dir;  // holds backbones/<name>.json; --config-dir or TRELLIS_CONFIG_DIR
  int threads = 0;                   // intra-op threads; 0: every core of this machine
  bool quiet = false;                // no progress on stderr
  std::filesystem::path registry;    // adapter registry root; --registry or TRELLIS_REGISTRY (may be empty)
};

}  // namespace trellis
