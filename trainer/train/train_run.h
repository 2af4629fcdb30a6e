#pragma once
// One call of Trainer::train, split into phases that tests can drive: the run's state (optimizer,
// flat gradients, step counter, kept-best checkpoint, timers) and one member function per phase.
// Internal to trainer/train (Trainer::train is the public entry point; trainer.h has the semantics).
//
// Call order: construct (set-up), then any number of step(), each followed by whichever of
// evaluate()/offer() and emit_checkpoint() the schedule asks for (Trainer::train's loop: eval_due(),
// checkpoint_due()), and finish() once, last. step() needs !at_end(). Every rank of the group makes
// the same calls in the same order (step(), evaluate() and the set-up are collectives).
// Ownership: the run references everything passed to the constructor (all must outlive it) and
// owns the optimizer and the gradient buffer. Not thread-safe; step() reseeds the global torch generator.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <torch/optim/adamw.h>

#include "trainer/data/batching.h"
#include "trainer/model/encoder.h"
#include "trainer/train/lr_schedule.h"
#include "trainer/train/trainer.h"

namespace trellis {

// Every trainable tensor's gradient is a view into one flat float buffer (in parameter order),
// followed by the step's metadata slots (loss, control requests). Autograd accumulates into the views in place.
struct FlatGradients {
  at::Tensor buffer;  // [count + metadata slots]
  at::Tensor grads;   // [count], a view of buffer
  int64_t count = 0;
};

class TrainRun {
 public:
  // Set-up: checks the data; with `resume`, checks it against this run and restores its tensors
  // into `params`, its counters and its kept best; broadcasts rank 0's tensors; turns gradients
  // on, makes the optimizer (its moments from `resume` if it made a step) and attaches the flat
  // gradients. Throws trellis::Error on an empty data set or a checkpoint that does not fit.
  TrainRun(const Backbone& backbone, const TrainSpec& spec, Communicator& comm, TaskParams& params,
           const EncodedDataset& train, const EncodedDataset& validation, size_t num_classes,
           const TrainCallbacks& callbacks, const TrainingCheckpoint* resume);

  // One optimizer update: this rank's shard forward and backward, the control poll, the step's
  // collective (world > 1), clipping, the update, then on_step. Returns the group's combined control.
  StepControl step();
  // Validation metrics of the current tensors (a collective), then offer(). Needs one step() or more.
  void evaluate();
  // The kept-best rule on one evaluation's metrics: the first one is always kept, a later one if
  // its metric is better (a non-finite value never beats a finite one; a tie keeps the older).
  // Kept: the current tensors are snapshotted as the best. Calls on_eval; returns whether kept.
  bool offer(std::map<std::string, double> metrics);
  // This run's resumable state now (between steps).
  TrainingCheckpoint checkpoint() const;
  // Rank 0 with an on_checkpoint callback: passes checkpoint() to it. Other ranks: nothing.
  void emit_checkpoint();
  // Detaches the gradients, turns them off and fills the result. Completed: restores the kept best
  // into the params (needs an offer() before) and throws trellis::Error if its metrics are not finite.
  TrainResult finish(TrainOutcome outcome);

  // The schedule, after a step(): evaluate every eval_every_steps steps and at the end, else at
  // each epoch end; checkpoint every checkpoint_every steps and on any request.
  bool eval_due() const;
  bool checkpoint_due(StepControl control) const;
  bool at_end() const { return step_ >= total_; }
  int64_t steps_done() const { return step_; }
  int64_t total_steps() const { return total_; }

 private:
  double forward_backward(const std::vector<size_t>& global);  // returns this rank's loss sum
  StepControl reduce(double& loss_sum, StepControl request);   // the step's collective (world > 1)
  void clip_gradients();  // max_grad_norm > 0: scales the flat gradients to that norm at most

  const Backbone& backbone_;
  const TrainSpec& spec_;
  Communicator& comm_;
  TaskParams& params_;
  const EncodedDataset& train_;
  const EncodedDataset& validation_;
  const size_t num_classes_;
  const TrainCallbacks& cb_;

  // Fixed by the set-up.
  std::string metric_;
  bool regression_ = false;
  int world_ = 1, rank_ = 0;
  uint64_t rank_seed_ = 0;  // this rank's dropout stream, reseeded at every step from (seed, rank, step)
  std::vector<size_t> lengths_;
  BatchPlanOptions plan_opts_;
  int64_t batches_per_epoch_ = 0, total_ = 0;
  LinearSchedule schedule_;
  ForwardOptions fwd_;
  std::vector<at::Tensor> all_;  // the trained tensors, in parameter order
  std::unique_ptr<torch::optim::AdamW> optimizer_;
  FlatGradients flat_;
  at::TensorOptions device_opts_;

  // Progress.
  TrainResult result_;  // best_metrics, best_step, allreduce_seconds kept up to date; the rest at finish()
  std::optional<std::map<std::string, at::Tensor>> best_state_;
  double best_value_ = 0;
  int64_t step_ = 0, samples_ = 0;
  double seconds_ = 0;                     // optimizer steps only
  std::vector<std::vector<size_t>> plan_;  // the batches of epoch plan_epoch_
  int64_t plan_epoch_ = -1;
};

}  // namespace trellis
