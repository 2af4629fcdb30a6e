#include "worker/group/worker_group.h"

#include <chrono>
#include <optional>

#include <ATen/ATen.h>

#include "trainer/model/backbone.h"
#include "trainer/train/communicator.h"
#include "trainer/train/progress_log.h"
#include "trainer/train/runtime.h"
#include "common/error.h"

namespace trellis {

std::string to_string(RunState state) {
  switch (state) {
    case RunState::succeeded: return "succeeded";
    case RunState::failed: return "failed";
    case RunState::interrupted: return "interrupted";
    case RunState::cancelled: return "cancelled";
  }
  return "unknown";
}

WorkerGroup::WorkerGroup(Communicator& comm, std::shared_ptr<const Backbone> backbone, WorkerGroupOptions options)
    : comm_(comm), backbone_(std::move(backbone)), options_(options) {}

JobOutcome WorkerGroup::run(const GroupJob& job) {
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  const int rank = comm_.rank(), world = comm_.size();
  JobOutcome outcome;

  // Prepare everywhere; a bad job fails on every rank alike, before any training collective.
  std::optional<PreparedJob> prepared;
  std::string error;
  try {
    prepared = with_torch_errors([&] { return prepare_training_job(job.spec, *backbone_, job.out, rank == 0); });
  } catch (const std::exception& e) {
    error = e.what();
  }
  outcome.prepare_seconds = std::chrono::duration<double>(clock::now() - start).count();
  at::Tensor failed = at::zeros({world}, at::TensorOptions().dtype(at::kInt));
  failed[rank] = prepared ? 0 : 1;
  comm_.allreduce_sum(failed);
  for (int r = 0; r < world; ++r) {
    if (failed[r].item<int>() == 0) continue;
    outcome.state = RunState::failed;
    outcome.prepare_failed = true;
    outcome.error = (world > 1 ? "rank " + std::to_string(r) + ": " : "") + broadcast_bytes(comm_, error, r);
    outcome.seconds = std::chrono::duration<double>(clock::now() - start).count();
    return outcome;
  }

  JobRunOptions options;
  options.checkpoint_file = job.checkpoint_file;
  options.callbacks.checkpoint_every = job.checkpoint_file.empty() ? 0 : options_.checkpoint_every;
  if (rank == 0 && options_.log_progress) log_progress_to_stderr(options.callbacks, "[" + job.id + "] ");
  const auto report = options.callbacks.on_step;
  const auto step_hook = rank == 0 ? options_.on_step_report : nullptr;
  if (rank == 0 && options_.on_eval_report) {
    options.callbacks.on_eval = [log = options.callbacks.on_eval, hook = options_.on_eval_report](const EvalReport& r) {
      if (log) log(r);
      hook(r);
    };
  }
  bool first_step = true;
  options.callbacks.step_every = 1;  // every step: the first one is timed; progress is thinned below
  options.callbacks.on_step = [&, report](const StepReport& r) {
    if (first_step) {
      outcome.seconds_to_first_step = std::chrono::duration<double>(clock::now() - start).count();
      outcome.first_step_seconds = r.step_seconds;
    }
    first_step = false;
    if (step_hook) step_hook(r);
    if (report && (r.step % std::max<int64_t>(1, options_.log_every) == 0 || r.step == r.total_steps)) report(r);
  };
  const int64_t stop_at = options_.stop_at_step;
  const std::atomic<bool>* stop = options_.stop_requested;
  const std::atomic<bool>* cancel = rank == 0 ? options_.cancel_requested : nullptr;
  const bool inject_fault = options_.fault_rank == rank;
  const int64_t fault_step = options_.fault_step;
  options.callbacks.control = [stop_at, stop, cancel, inject_fault, fault_step](int64_t step) {
    if (inject_fault && step == fault_step) throw Error("injected fault at step " + std::to_string(step));
    if (cancel && cancel->load(std::memory_order_relaxed)) return StepControl::cancel;
    if ((stop_at > 0 && step >= stop_at) || (stop && stop->load(std::memory_order_relaxed)))
      return StepControl::preempt;
    return StepControl::proceed;
  };
  outcome.result = with_torch_errors([&] { return run_prepared_job(*prepared, backbone_, comm_, options); });
  switch (outcome.result.train.outcome) {
    case TrainOutcome::completed: outcome.state = RunState::succeeded; break;
    case TrainOutcome::preempted: outcome.state = RunState::interrupted; break;
    case TrainOutcome::cancelled: outcome.state = RunState::cancelled; break;
  }
  outcome.seconds = std::chrono::duration<double>(clock::now() - start).count();
  return outcome;
}

}  // namespace trellis
