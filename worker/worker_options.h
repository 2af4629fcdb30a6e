#pragma once
// trellis-worker's options (built once in main from the command line) and the derived
// per-rank thread count.
#include <cstdint>
#include <string>

#include "common/environment.h"

namespace trellis {

struct WorkerOptions {
  std::string job;                    // one job spec (local mode) ...
  std::string jobs_dir;               // ... or every *.json spec in a directory, in name order
  std::string out;                    // --job: the artifact directory; --jobs-dir: the parent of <stem>/
                                      // (optional with --registry: then a temporary directory)
  std::string registry;               // publish each artifact as the next version of its task here
  std::string config_dir;             // holds backbones/<name>.json
  std::string backbone;               // served backbone; default: the first job's
  std::string checkpoint_dir;         // <dir>/<job id>.checkpoint.safetensors; empty: no checkpoints
  int64_t checkpoint_every = 0;       // steps; needs checkpoint_dir
  int64_t stop_at_step = 0;           // drill: checkpoint and stop the first job after this step
  std::string inject_fault;           // drill: "RANK:STEP" makes that rank throw at that step
  std::string device = "cpu";         // "cpu" (MPI for every collective) or "cuda" (NCCL for gradients)
  int device_index = -1;              // cuda: the GPU; -1: the rank's index on its node
  int threads = 0;                    // intra-op threads per rank; 0: cores per rank
  double collective_timeout_s = 300;  // a training collective waiting longer ends the group
  int64_t log_every = 10;             // progress line every N steps
  bool quiet = false;
  // Coordinator mode (--coordinator): lease jobs from the coordinator instead of --job/--jobs-dir.
  std::string coordinator;               // http://HOST:PORT
  std::string token_file;                // the bearer token (role worker)
  std::string data_cache;                // downloaded data files; default <checkpoint_dir>/data-cache
  double data_cache_retention_days = 7;  // cached data and checkpoints unused this long go; 0: never
  int lease_wait_s = 10;                 // long-poll seconds per lease request (also bounds an idle stop)
  // From the environment only (apply_environment):
  std::string slurm_job_id;     // SLURM_JOB_ID: the Slurm job this group runs in; "" outside Slurm
  int slurm_cpus_per_task = 0;  // SLURM_CPUS_PER_TASK; 0: not set
};

// The defaults the environment gives, applied before the command line (whose flags win):
// registry from TRELLIS_REGISTRY, config_dir from TRELLIS_CONFIG_DIR else `default_config_dir`
// (each independently of the other), and the Slurm fields above. Unset or empty variables leave
// the fields as they are.
void apply_environment(WorkerOptions& options, const Environment& env, const std::string& default_config_dir);

// Intra-op threads for one rank when not given: `slurm_cpus_per_task` if > 0, else this node's
// cores divided among its `local_size` ranks, never more than the cores this process may run on
// (its affinity mask: launchers that bind ranks to cores shrink it). At least 1.
int default_threads_per_rank(int local_size, int slurm_cpus_per_task);

}  // namespace trellis
