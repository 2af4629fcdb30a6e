#include "trainer/train/runtime.h"

#include <algorithm>
#include <thread>

#include <ATen/Parallel.h>

namespace trellis {

void set_compute_threads(int threads) {
  const int n = threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  at::set_num_threads(n);
  static bool interop_set = false;  // LibTorch accepts set_num_interop_threads once per process
  if (!interop_set) {
    at::set_num_interop_threads(1);
    interop_set = true;
  }
}

}  // namespace trellis
