#pragma once
// The job record, its events and the worker groups that lease jobs.
//
// Job state machine (terminal states are final; every change is an event of kind `state`):
//
//   queued --lease--> leased --first heartbeat--> running
//   leased|running --complete--> succeeded
//   leased|running --fail(retryable, failures < max_attempts)--> queued   (attempts + 1)
//   leased|running --fail(not retryable, or failures >= max_attempts)--> failed (attempts + 1)
//   leased|running --fail(kPreempted, retryable)--> queued          (attempts + 1, preemptions + 1)
//   leased|running --lease expired, failures < max_attempts--> queued     (attempts + 1,
//                                                       error = lease_expired)
//   leased|running --lease expired, failures >= max_attempts--> failed   (last error kept)
//   queued --cancel--> cancelled                                (at once)
//   leased|running --cancel--> same state, cancel_requested = true; then
//       heartbeat answers `cancel`; cancelled(job, lease), fail(...) or lease expiry -> cancelled
//   succeeded | failed | cancelled: final; cancel is a conflict, worker calls are conflicts.
// The same moves as data: kJobTransitions (job_transitions.h); the store refuses any other.
//
// `attempts` counts the attempts that ended without success; `preemptions` those of them the
// group handed back on purpose (kPreempted: a Slurm pre-emption or time limit, a scale-down; the
// job resumes from its checkpoint). failures() = attempts - preemptions: a job fails once it has
// failed max_attempts times; hand-backs never use up its attempts. A job holds at most one live lease (lease_id, group,
// expiry), cleared when it leaves leased/running. A complete() that races a cancel request still succeeds (the artifact
// exists).
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "protocol/ids.h"
#include "protocol/job_state.h"
#include "trainer/spec/job_spec.h"

namespace trellis {

struct JobError {
  std::string code;     // short machine-readable code, e.g. "lease_expired", "oom"
  std::string message;  // a sentence for the user
  friend bool operator==(const JobError&, const JobError&) = default;
};

struct Job {
  std::string id;               // "j-" + 32 hex digits (128 random bits)
  JobSpec spec;                 // stored as its canonical JSON (to_json)
  std::string backbone_sha256;  // only groups serving this backbone lease the job
  JobState state = JobState::queued;
  int attempts = 0;
  int max_attempts = 3;
  int preemptions = 0;  // of `attempts`: hand-backs (kPreempted), not failures
  int priority = 0;     // higher first
  std::optional<std::string> idempotency_key;
  bool cancel_requested = false;
  int64_t step = 0;
  int64_t total_steps = 0;                            // 0: unknown yet
  nlohmann::json metrics = nlohmann::json::object();  // latest metrics reported by the worker
  std::optional<JobError> error;                      // the last error (kept across retries)
  std::string artifact_ref;                           // "task@version" once succeeded
  Time created_at{};
  Time updated_at{};
  std::optional<Time> started_at;   // first time it became running
  std::optional<Time> finished_at;  // when it reached a terminal state
  // The live lease (leased/running only).
  std::string lease_id;
  std::string lease_group_id;
  std::optional<Time> lease_expires_at;
  std::chrono::milliseconds lease_ttl{0};
  int64_t submit_seq = 0;      // submission order (ties in priority go to the lower one)
  int64_t last_event_seq = 0;  // the sequence number of the job's latest event
  int failures() const { return attempts - preemptions; }
  friend bool operator==(const Job&, const Job&) = default;
};

struct JobEvent {
  std::string job_id;
  int64_t seq = 0;  // 1, 2, ... per job
  Time time{};
  EventKind kind = EventKind::state;
  nlohmann::json payload;
  friend bool operator==(const JobEvent&, const JobEvent&) = default;
};

// A worker group: the ranks that together serve one resident backbone.
struct Group {
  std::string id;
  std::string backbone_name;
  std::string backbone_sha256;
  int world_size = 1;
  std::string host;
  Time last_seen{};              // set by the store on register, lease and heartbeat
  std::string slurm_job_id;      // the Slurm job the group runs in ("" when not under Slurm)
  std::optional<Time> ended_at;  // set by release_group (its Slurm job ended); cleared on register
  friend bool operator==(const Group&, const Group&) = default;
};

// A worker group the coordinator's launcher submitted to Slurm (sbatch), kept until it ends so
// that a restarted coordinator still knows it.
enum class LaunchState { pending, running, ended };  // pending: queued/configuring in Slurm
std::string to_string(LaunchState s);
LaunchState parse_launch_state(const std::string& s);  // throws Error(invalid)

struct LaunchedJob {
  std::string slurm_job_id;
  std::string backbone_name;
  std::string backbone_sha256;
  LaunchState state = LaunchState::pending;
  Time submitted_at{};
  std::optional<Time> cancel_requested_at;  // when the launcher scancelled it
  std::optional<Time> ended_at;             // when the launcher saw it end
  friend bool operator==(const LaunchedJob&, const LaunchedJob&) = default;
};

struct Lease {
  std::string lease_id;  // "l-" + 32 hex digits
  Job job;
  Time expires_at{};
};

// Times are kept to the millisecond (what the database stores).
Time to_millis(Time t);
int64_t millis_since_epoch(Time t);
Time from_millis(int64_t ms);

// "j-"/"l-" + 32 lowercase hex digits from a random 128-bit number.
std::string new_random_id(const std::string& prefix);

}  // namespace trellis
