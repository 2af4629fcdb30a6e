#pragma once
// trellis-worker --coordinator: the group's lease loop. Rank 0 registers the group (backbone name
// and weights sha256, world size, devices, host), long-polls for leases, prepares each leased job
// (lease_loop.h steps these; coordinator_jobs.h), broadcasts it, heartbeats while the group trains
// it (heartbeat_loop.h), then publishes the artifact and reports complete/fail/cancelled; the
// other ranks only follow rank 0's broadcasts, as in local mode. See coordinator/api/PROTOCOL.md,
// "Worker protocol".
// Outcomes: succeeded -> publish (lineage job id and attempt) + complete {artifact "task@N"};
// failed -> fail, retryable false when the job's own spec/data is at fault (its data could not be
// fetched or verified, or the prepare phase failed), true otherwise; cancelled (heartbeat said
// cancel) -> cancelled, or nothing when the lease was lost (409); interrupted (SIGTERM) -> fail
// "preempted" retryable true, the checkpoint stays for the next group, and the loop ends.
#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "worker/group/worker_group.h"
#include "worker/worker_options.h"

namespace trellis {

class ArtifactRegistry;
namespace protocol {
class CoordinatorClient;
}
class HeartbeatLoop;
class MpiCommunicator;

class CoordinatorSession {
 public:
  // Every rank constructs one; only rank 0 reads the token file and talks to the coordinator.
  CoordinatorSession(const WorkerOptions& options, int rank, int world, const std::atomic<bool>& stop_requested);
  ~CoordinatorSession();
  // Sets the cancel flag and the step/eval hooks of the group's options (before the group is built).
  void install(WorkerGroupOptions& group_options);
  // The lease loop until a requested stop (SIGTERM/SIGINT, or a job interrupted by one). Returns
  // the exit code (0). Errors that end the group throw, as in local mode.
  int run(WorkerGroup& group, MpiCommunicator& comm, const std::string& backbone_name,
          const std::string& backbone_sha256, ArtifactRegistry* registry, std::chrono::milliseconds job_timeout,
          const std::function<void(const std::string& job_id, const JobOutcome&, const std::string& version)>& print);
  // Best effort, rank 0: fails the job in flight (retryable) before the group ends on an error.
  void report_group_error(const std::string& error);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// The backbone to serve when --backbone is not given: the only backbones/*.json of `config_dir`
// ("" when there is none or more than one).
std::string only_backbone(const std::string& config_dir);

}  // namespace trellis
