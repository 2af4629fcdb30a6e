#pragma once
// Trains one task's parameters on a frozen backbone: AdamW (no decay on biases and LayerNorms),
// linear warm-up then decay, gradient-norm clipping, evaluation every epoch (or every N steps)
// and the best validation checkpoint kept. Data parallel through a Communicator: every rank takes
// a strided shard of each global batch; gradients are summed and the loss is normalised by the
// global batch size, so any world size computes the same update as one rank (exactly so with
// dropout 0; with dropout each rank draws its own masks).
// Call order: construct, then train() once. Not thread-safe; it sets the global torch seed.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "trainer/model/task_params.h"
#include "trainer/spec/job_spec.h"
#include "trainer/train/communicator.h"
#include "trainer/train/encoded_dataset.h"

namespace trellis {

class Backbone;

struct StepReport {
  int64_t step = 0;         // 1-based number of optimizer updates done
  int64_t total_steps = 0;
  int64_t epoch = 0;        // 0-based
  double loss = 0;          // mean loss of this global batch
  double learning_rate = 0;
  double samples_per_s = 0; // training throughput so far (evaluation time excluded)
};

struct EvalReport {
  int64_t step = 0;
  int64_t epoch = 0;
  std::map<std::string, double> metrics;
  bool best = false;  // this evaluation became the kept checkpoint
};

struct TrainCallbacks {
  std::function<void(const StepReport&)> on_step;  // every `step_every` updates and the last one
  int64_t step_every = 10;
  std::function<void(const EvalReport&)> on_eval;
};

struct TrainResult {
  std::map<std::string, double> best_metrics;  // validation metrics of the kept checkpoint
  int64_t best_step = 0;
  int64_t steps = 0;
  double train_seconds = 0;   // optimizer steps only
  double samples_per_s = 0;
};

class Trainer {
 public:
  Trainer(std::shared_ptr<const Backbone> backbone, JobSpec spec, Communicator& comm);
  // Trains `params` in place; on return they hold the best checkpoint on `validation`.
  TrainResult train(TaskParams& params, const EncodedDataset& train, const EncodedDataset& validation,
                    size_t num_classes, const TrainCallbacks& callbacks = {});

 private:
  std::shared_ptr<const Backbone> backbone_;
  JobSpec spec_;
  Communicator& comm_;
};

}  // namespace trellis
