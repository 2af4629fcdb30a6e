#include "trainer/train/progress_log.h"

#include <cstdio>

namespace trellis {

void log_progress_to_stderr(TrainCallbacks& cb, const std::string& prefix) {
  cb.on_step = [prefix](const StepReport& r) {
    std::fprintf(stderr, "%sstep %lld/%lld epoch %lld loss %.4f lr %.3g %.1f samples/s\n", prefix.c_str(),
                 (long long)r.step, (long long)r.total_steps, (long long)r.epoch + 1, r.loss, r.learning_rate,
                 r.samples_per_s);
  };
  cb.on_eval = [prefix](const EvalReport& r) {
    std::string m;
    for (const auto& [k, v] : r.metrics) m += " " + k + "=" + std::to_string(v);
    std::fprintf(stderr, "%seval step %lld epoch %lld:%s%s\n", prefix.c_str(), (long long)r.step,
                 (long long)r.epoch + 1, m.c_str(), r.best ? " (best)" : "");
  };
}

}  // namespace trellis
