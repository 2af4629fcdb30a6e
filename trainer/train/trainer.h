#pragma once
// Trains one task's parameters on a frozen backbone: AdamW (no decay on biases and LayerNorms),
// linear warm-up then decay, gradient-norm clipping, evaluation every epoch (or every N steps)
// and the best validation checkpoint kept. Data parallel through a Communicator: every rank takes
// a strided shard of each global batch; gradients are summed and the loss is normalised by the
// global batch size, so any world size computes the same update as one rank (exactly so with
// dropout 0; with dropout each rank draws its own masks). All of a step's gradients live in one
// flat buffer, so a step costs one allreduce; the same buffer carries the step's loss and the
// ranks' control requests (stop, checkpoint), so every rank acts on them after the same step.
// Checkpoints (checkpoint.h) make a run resumable, bit-exact on the same world size.
// Call order: construct, then train() once, on every rank of the group with the same arguments.
// Not thread-safe; it reseeds the global torch generator at every step.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "trainer/model/task_params.h"
#include "trainer/train/checkpoint.h"
#include "trainer/spec/job_spec.h"
#include "trainer/train/communicator.h"
#include "trainer/train/encoded_dataset.h"

namespace trellis {

class Backbone;

struct StepReport {
  int64_t step = 0;  // 1-based number of optimizer updates done
  int64_t total_steps = 0;
  int64_t epoch = 0;  // 0-based
  double loss = 0;    // mean loss of this global batch
  double learning_rate = 0;
  double samples_per_s = 0;  // training throughput so far (evaluation time excluded)
  double step_seconds = 0;   // this step's own time
};

struct EvalReport {
  int64_t step = 0;
  int64_t epoch = 0;
  std::map<std::string, double> metrics;
  bool best = false;  // this evaluation became the kept checkpoint
};

// What the group does after the current step. Requests from all ranks are combined; the strongest
// wins: cancel > preempt > checkpoint > proceed. On the run's last step, preempt and checkpoint
// are moot (the run completes).
enum class StepControl { proceed = 0, checkpoint = 1, preempt = 2, cancel = 3 };
enum class TrainOutcome { completed, preempted, cancelled };

// Callbacks run on the training thread. on_step/on_eval run on every rank (the values are the
// group's, identical on every rank); report from rank 0 only if once is enough.
struct TrainCallbacks {
  std::function<void(const StepReport&)> on_step;  // every `step_every` updates and the last one
  int64_t step_every = 10;
  std::function<void(const EvalReport&)> on_eval;
  // Polled on every rank once per step with the step's 1-based number, before the step's
  // collective; the answer applies after that step. Must be cheap.
  std::function<StepControl(int64_t step)> control;
  // Rank 0 only: a checkpoint to persist, after every `checkpoint_every` steps (0: never) and on
  // a checkpoint or preempt request. A throw ends the run (as any error does).
  std::function<void(const TrainingCheckpoint&)> on_checkpoint;
  int64_t checkpoint_every = 0;
};

struct TrainResult {
  std::map<std::string, double> best_metrics;  // validation metrics of the kept checkpoint
  int64_t best_step = 0;
  int64_t steps = 0;
  double train_seconds = 0;  // optimizer steps only
  double samples_per_s = 0;
  TrainOutcome outcome = TrainOutcome::completed;  // only a completed run restores the best checkpoint
  // The step collective (world size > 1): bytes per step, split into the gradients (4 bytes per
  // trained float32 parameter) and the step's metadata (loss, control requests), and the time
  // spent in it (steps of this run only; waiting for slower peers included).
  int64_t gradient_bytes_per_step = 0;
  int64_t metadata_bytes_per_step = 0;
  double allreduce_seconds = 0;
};

class Trainer {
 public:
  Trainer(std::shared_ptr<const Backbone> backbone, JobSpec spec, Communicator& comm);
  // Trains `params` in place; on a completed return they hold the best checkpoint on `validation`.
  // Rank 0's initial `params` are broadcast to every rank. With `resume`, training continues from
  // that checkpoint (its tensors replace `params`); its total_steps must match this run's.
  TrainResult train(TaskParams& params, const EncodedDataset& train, const EncodedDataset& validation,
                    size_t num_classes, const TrainCallbacks& callbacks = {},
                    const TrainingCheckpoint* resume = nullptr);
  // Optimizer updates a run of this spec makes on `train_examples` examples.
  static int64_t total_steps(const TrainSpec& spec, size_t train_examples);

 private:
  std::shared_ptr<const Backbone> backbone_;
  JobSpec spec_;
  Communicator& comm_;
};

}  // namespace trellis
