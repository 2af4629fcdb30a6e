#include "worker/worker_options.h"

#include <sched.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <thread>

namespace trellis {

void apply_environment(WorkerOptions& options, const Environment& env, const std::string& default_config_dir) {
  if (auto registry = env.get("TRELLIS_REGISTRY")) options.registry = *registry;
  options.config_dir = env.get("TRELLIS_CONFIG_DIR").value_or(default_config_dir);
  if (auto job = env.get("SLURM_JOB_ID")) options.slurm_job_id = *job;
  if (auto cpus = env.get("SLURM_CPUS_PER_TASK")) options.slurm_cpus_per_task = std::max(0, std::atoi(cpus->c_str()));
}

int default_threads_per_rank(int local_size, int slurm_cpus_per_task) {
  if (slurm_cpus_per_task > 0) return slurm_cpus_per_task;
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  int share = std::max(1, cores / std::max(1, local_size));
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) share = std::min(share, std::max(1, CPU_COUNT(&set)));
  return share;
}

}  // namespace trellis
