#pragma once
// A worker group runs jobs one at a time on its resident backbone, every rank together.
// Lifecycle of one job (run(), a collective that every rank calls with the same GroupJob):
//   prepare (read, validate, tokenise) on every rank -> agree: if any rank failed, the job fails
//   on all with the first failing rank's error, and the group goes on to the next job ->
//   train (one allreduce per step; the group's control requests stop every rank at the same
//   step) -> rank 0 writes the artifact (and removes the job's checkpoint).
// An error during training (a peer gone, a collective timed out, a rank's own failure) is not
// recoverable within the group: run() throws and the caller ends the whole group (MPI_Abort).
// Not thread-safe; one caller thread (the MPI thread).
#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "trainer/train/job_runner.h"
#include "worker/group/group_job.h"

namespace trellis {

class Backbone;
class Communicator;

struct WorkerGroupOptions {
  int64_t checkpoint_every = 0;  // steps between checkpoints (0: only on request)
  int64_t stop_at_step = 0;      // preempt (checkpoint, stop) after this step; 0: never. For tests and drills.
  // Read at every step: once true, the group checkpoints after the current step and stops the
  // job (a preemption, e.g. SIGTERM before a Slurm kill). Not owned; may be null.
  const std::atomic<bool>* stop_requested = nullptr;
  // Drill: rank `fault_rank` throws at step `fault_step` (as a rank failing mid-training would).
  int fault_rank = -1;
  int64_t fault_step = 0;
  bool log_progress = true;  // rank 0 prints progress lines to stderr
  int64_t log_every = 10;
  // Coordinator mode (unset in local mode). Read at every step on rank 0: once true, the job is
  // cancelled after the current step (no checkpoint, no artifact). Not owned; may be null.
  const std::atomic<bool>* cancel_requested = nullptr;
  // Rank 0: every step's report and every evaluation, on the training thread (keep them cheap).
  std::function<void(const StepReport&)> on_step_report;
  std::function<void(const EvalReport&)> on_eval_report;
};

// How one run of a job in this group ended (the coordinator's job states are protocol/job_state.h).
enum class RunState { succeeded, failed, interrupted, cancelled };
std::string to_string(RunState state);

struct JobOutcome {
  RunState state = RunState::failed;
  std::string error;                 // failed: "rank R: cause"
  bool prepare_failed = false;       // failed in the prepare phase: the job's own spec or data is at fault
  JobRunResult result;               // succeeded or interrupted
  double prepare_seconds = 0;        // reading, validating and tokenising the data
  double seconds_to_first_step = 0;  // from run() to the end of the first optimizer step
  double first_step_seconds = 0;     // the first step's own compute
  double seconds = 0;                // the whole job
};

class WorkerGroup {
 public:
  // `comm` and `backbone` must outlive the group; every rank holds the same backbone.
  WorkerGroup(Communicator& comm, std::shared_ptr<const Backbone> backbone, WorkerGroupOptions options);
  WorkerGroup(const WorkerGroup&) = delete;
  WorkerGroup& operator=(const WorkerGroup&) = delete;

  JobOutcome run(const GroupJob& job);
  const Backbone& backbone() const { return *backbone_; }

 private:
  Communicator& comm_;
  std::shared_ptr<const Backbone> backbone_;
  WorkerGroupOptions options_;
};

}  // namespace trellis
