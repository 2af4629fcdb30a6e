#pragma once
// Coordinator mode, rank 0: the lease loop between jobs, one round per step() (coordinator_mode.h
// runs it until a job is leased or a stop is requested). A round registers the group when it is
// not registered (again after a lease answered 404), or else trims the data cache and stale
// checkpoints (at most hourly, disk_retention.h) and long-polls for a lease. A lease starts the
// job's heartbeat (heartbeat_loop.h: preparation may outlast a lease TTL), then prepares the job
// (coordinator_jobs.h: downloads its data); a job that cannot be prepared is reported failed here.
// No LibTorch here.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "protocol/coordinator_client.h"
#include "worker/coordinator_jobs.h"
#include "worker/group/group_job.h"
#include "worker/heartbeat_loop.h"

namespace trellis {

// The job rank 0 holds a lease on. step() fills it on a lease, before preparing the job, so an
// error that ends the group meanwhile can still report the job; the caller clears it once the job
// is reported (step() does for a refused job). One thread (the lease loop's) writes it.
struct JobInFlight {
  std::string job_id;  // empty: none
  std::string lease_id;
  std::unique_ptr<HeartbeatLoop> heartbeat;  // beating since the lease
};

struct LeaseLoopOptions {
  protocol::GroupRegistration registration;      // group_id: set by the first registration, kept after
  CoordinatorJobOptions jobs;                    // where leased jobs' data and checkpoints go
  int lease_wait_s = 30;                         // the lease long-poll
  std::chrono::milliseconds cache_retention{0};  // > 0: trims of what was unused that long; 0: none
  std::atomic<bool>* cancel = nullptr;           // set by a job's heartbeat, cleared on each lease;
                                                 // null: each heartbeat's own. Not owned
  bool quiet = false;                            // no progress lines (problems are logged anyway)
  std::function<void(const std::string&)> log;   // one line each; may be empty
};

struct LeaseStep {
  enum class Kind {
    stopped,        // the client's should_stop said so (register or lease gave up)
    registered,     // the group registered (again); the next step leases
    no_job,         // the long-poll ended with nothing to lease (204)
    unknown_group,  // the coordinator does not know the group (404): the next step registers again
    refused,        // a job was leased but cannot run here; already reported failed (unless its lease was lost)
    leased,         // a job was leased and prepared: `job`; its heartbeat is in the JobInFlight
  };
  Kind kind = Kind::stopped;
  std::string job_id;             // refused, leased
  std::string lease_id;           // refused, leased
  std::string error_code, error;  // refused: why (LeasedJob's)
  std::optional<GroupJob> job;    // leased: data paths local, staging and checkpoint paths set
  int64_t attempt = 0;            // leased: this attempt's number (the job's attempts + 1)
};

class LeaseLoop {
 public:
  // `client` and `in_flight` are not owned and must outlive the loop.
  LeaseLoop(protocol::CoordinatorClient& client, LeaseLoopOptions options, JobInFlight& in_flight);

  // One round (see above). Call it only while `in_flight` holds no job. Throws what the client's
  // register_group and lease throw (a 4xx other than a lease's 404). One thread at a time.
  LeaseStep step();

  // The last registration's answer; nullopt before the first one and after an unknown_group step.
  const std::optional<protocol::GroupRegistered>& registration() const { return registered_; }

 private:
  void log(const std::string& line) const;
  void trim_if_due();

  protocol::CoordinatorClient& client_;
  LeaseLoopOptions options_;
  JobInFlight& in_flight_;
  std::optional<protocol::GroupRegistered> registered_;
  std::chrono::steady_clock::time_point next_trim_;
};

}  // namespace trellis
