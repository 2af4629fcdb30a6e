#pragma once
// Linear warm-up then linear decay to zero, as a pure function of the step.
#include <algorithm>
#include <cmath>
#include <cstdint>

namespace trellis {

struct LinearSchedule {
  double peak_lr = 1e-3;
  int64_t warmup_steps = 0;
  int64_t total_steps = 1;

  static LinearSchedule from_ratio(double peak, double warmup_ratio, int64_t total_steps) {
    return {peak, static_cast<int64_t>(std::ceil(warmup_ratio * static_cast<double>(total_steps))), total_steps};
  }
  // The learning rate of update number `step` (0-based): step+1 / warmup during warm-up (so the
  // first update is not wasted at lr 0), then (total - step) / (total - warmup).
  double at(int64_t step) const {
    if (step < warmup_steps) return peak_lr * static_cast<double>(step + 1) / static_cast<double>(warmup_steps);
    const int64_t decay = std::max<int64_t>(1, total_steps - warmup_steps);
    return peak_lr * std::max(0.0, static_cast<double>(total_steps - step) / static_cast<double>(decay));
  }
};

}  // namespace trellis
