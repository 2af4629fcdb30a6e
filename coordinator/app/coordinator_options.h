#pragma once
// Everything trellis-coordinator is built from (its command line fills it; tests fill it by hand).
// Plain values. See coordinator/main.cpp for each option's meaning and default on the command line.
#include <cstddef>
#include <string>
#include <vector>

namespace trellis {

struct CoordinatorOptions {
  std::string listen = "127.0.0.1:8080";  // HOST:PORT; port 0: an ephemeral port
  std::string registry;                   // the adapter registry root
  bool create_registry = false;
  std::string auth_config;               // the token file (coordinator/http/auth.h)
  std::string state_dir;                 // jobs.db and files/
  std::vector<std::string> config_dirs;  // each holds backbones/<name>.json: the backbones served
  double lease_ttl_s = 30;
  double heartbeat_s = 5;
  int max_attempts = 3;
  std::size_t max_body_bytes = 64u << 20;
  // Handlers block on the store (a submit waits for its group commit's fsync): more threads than
  // cores let more submits share one commit.
  int threads = 16;
  int grace_seconds = 10;
  double file_retention_days = 30;  // 0: keep uploads forever
  double file_sweep_interval_s = 3600;
  double lease_expiry_interval_s = 0.5;
  // Launcher mode (off unless launcher == "slurm").
  std::string launcher;
  std::string sbatch_script;
  int launcher_max_groups = 2;
  double launcher_idle_timeout_s = 300;
  double launcher_poll_s = 2;
  std::vector<std::string> sbatch_args;
  std::vector<std::string> launcher_env;  // KEY=VALUE
};

}  // namespace trellis
