#pragma once
// Options shared by the trellis subcommands (parsed once in main).
#include <filesystem>
#include <string>

#include "common/environment.h"

namespace trellis {

struct CliContext {
  Environment env;                   // the process environment, read once in main
  std::filesystem::path config_dir;  // holds backbones/<name>.json; --config-dir or TRELLIS_CONFIG_DIR
  int threads = 0;                   // intra-op threads; 0: every core of this machine
  bool quiet = false;                // no progress on stderr
  std::filesystem::path registry;    // adapter registry root; --registry or TRELLIS_REGISTRY (may be empty)
  std::string server;                // coordinator URL (fetch); --server or TRELLIS_SERVER
  std::filesystem::path token_file;  // bearer token file (fetch); --token-file or TRELLIS_TOKEN_FILE
  std::filesystem::path cache_dir;   // fetched tensors by sha256; TRELLIS_CACHE_DIR, else ~/.cache/trellis/adapters
};

}  // namespace trellis
