#include "trainer/train/trainer.h"

#include "trainer/train/train_run.h"

namespace trellis {

Trainer::Trainer(std::shared_ptr<const Backbone> backbone, JobSpec spec, Communicator& comm)
    : backbone_(std::move(backbone)), spec_(std::move(spec)), comm_(comm) {}

int64_t Trainer::total_steps(const TrainSpec& ts, size_t train_examples) {
  const auto bs = static_cast<size_t>(ts.batch_size);
  return static_cast<int64_t>((train_examples + bs - 1) / bs) * ts.epochs;
}

// The schedule of a run over TrainRun's phases. After each step: a cancel ends the run at once (no
// evaluation, no checkpoint); the last step ends it after its evaluation (requests are moot); a
// preempt ends it after its checkpoint.
TrainResult Trainer::train(TaskParams& params, const EncodedDataset& train, const EncodedDataset& validation,
                           size_t num_classes, const TrainCallbacks& cb, const TrainingCheckpoint* resume) {
  TrainRun run(*backbone_, spec_.train, comm_, params, train, validation, num_classes, cb, resume);
  while (!run.at_end()) {
    const StepControl control = run.step();
    if (control == StepControl::cancel) return run.finish(TrainOutcome::cancelled);
    if (run.eval_due()) run.evaluate();
    if (run.at_end()) break;
    if (run.checkpoint_due(control)) run.emit_checkpoint();
    if (control == StepControl::preempt) return run.finish(TrainOutcome::preempted);
  }
  return run.finish(TrainOutcome::completed);
}

}  // namespace trellis
