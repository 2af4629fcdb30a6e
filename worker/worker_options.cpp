#include "worker/worker_options.h"

#include <sched.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <thread>

namespace trellis {

int default_threads_per_rank(int local_size) {
  if (const char* slurm = std::getenv("SLURM_CPUS_PER_TASK")) {
    const int n = std::atoi(slurm);
    if (n > 0) return n;
  }
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  int share = std::max(1, cores / std::max(1, local_size));
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) share = std::min(share, std::max(1, CPU_COUNT(&set)));
  return share;
}

}  // namespace trellis
