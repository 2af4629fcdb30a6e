#pragma once
// JobStore: the coordinator's durable record of jobs, their events, worker groups and leases.
// The state machine is written down in job.h. Two implementations behave the same:
// SqliteJobStore (durable) and MemoryJobStore (the twin for handler tests); both are built on
// BasicJobStore, which holds the transitions.
//
// Contract:
//  - Every call is atomic: it either applies all of its rows (job + events) or none.
//  - Errors are Error: not_found (no such job/group), conflict (a forbidden transition, a
//    stale or expired lease), invalid (bad arguments), io (the database failed).
//  - Thread safety: every call may come from any thread; calls are serialised by one mutex.
//  - Time comes from the Clock given at construction, except expire_leases(now).
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "coordinator/store/job.h"

namespace trellis {

struct SubmitRequest {
  JobSpec spec;
  std::string backbone_sha256;  // non-empty
  int priority = 0;
  int max_attempts = 3;                        // >= 1
  std::optional<std::string> idempotency_key;  // non-empty when present
};

// Counts for monitoring (/metrics).
struct StoreStats {
  std::map<JobState, int64_t> jobs_by_state;  // every state, zero included
  int64_t groups_active = 0;                  // groups seen at or after `active_since`
};

struct SubmitResult {
  Job job;
  bool created = true;  // false: the idempotency key named an existing job, returned as is
};

struct ListQuery {
  std::optional<JobState> state;
  std::optional<std::string> task;   // spec.task
  int limit = 100;                   // 1..1000
  std::optional<std::string> after;  // a job id: list the jobs submitted after it
};

// What the launcher decides from (launcher_snapshot): one consistent view.
struct GroupActivity {
  Group group;
  int64_t live_leases = 0;  // jobs leased or running under this group
};
struct QueuedBackbone {
  std::string backbone_name;  // spec.backbone of (one of) the queued jobs
  int64_t queued = 0;
};
struct LauncherSnapshot {
  std::map<std::string, QueuedBackbone> queued;  // by backbone sha256; only backbones with queued jobs
  std::vector<GroupActivity> groups;             // not ended, seen at or after `groups_seen_since`
  std::vector<LaunchedJob> launches;             // launched jobs not ended, in submission order
};

class JobStore {
 public:
  virtual ~JobStore() = default;

  // Stores a queued job (with its first event). With an idempotency key already used: returns
  // that job (created = false) if the request is the same (spec, backbone, priority,
  // max_attempts), else conflict. Durable when it returns (SqliteJobStore).
  virtual SubmitResult submit(const SubmitRequest& request) = 0;
  virtual Job get(const std::string& job_id) = 0;
  // Jobs in submission order, filtered; `after` must name an existing job (else invalid).
  virtual std::vector<Job> list(const ListQuery& query) = 0;
  // Every queued, leased and running job, read as one consistent view (no job that moves between
  // these states while it is read is missed); queued first, each state in submission order.
  virtual std::vector<Job> live_jobs() = 0;
  // For a queued job: how many queued jobs for the same backbone would be leased before it
  // (0: next), counted up to `cap` (a result equal to cap means "cap or more": counting is linear
  // in the queue). nullopt when the job is not queued.
  static constexpr int64_t kQueuePositionCap = 1000;
  virtual std::optional<int64_t> queue_position(const std::string& job_id, int64_t cap = kQueuePositionCap) = 0;
  // The same for a job the caller already holds (no reload; its state as given decides).
  virtual std::optional<int64_t> queue_position_of(const Job& job, int64_t cap = kQueuePositionCap) = 0;
  // Events with seq > after_seq, oldest first, at most `limit` (1..1000).
  virtual std::vector<JobEvent> events(const std::string& job_id, int64_t after_seq, int limit) = 0;

  // queued -> cancelled; live -> cancel_requested (idempotent); terminal -> conflict.
  virtual Job cancel(const std::string& job_id) = 0;

  // Registers (or re-registers, replacing the description) a worker group; last_seen = now.
  virtual Group register_group(const Group& group) = 0;
  virtual Group get_group(const std::string& group_id) = 0;
  // Leases the next queued job (priority desc, then submission order) whose backbone sha256 is
  // the group's, for `ttl`; nullopt when none waits. Unknown group: not_found.
  virtual std::optional<Lease> lease(const std::string& group_id, std::chrono::milliseconds ttl) = 0;
  // Renews the lease for its ttl and records progress and metrics (a `progress` event when the
  // step moves, a `metrics` event when metrics is a non-empty object). leased -> running on the
  // first heartbeat. Answers cancel when cancel was requested. Stale/expired lease: conflict.
  virtual HeartbeatAction heartbeat(const std::string& job_id, const std::string& lease_id, int64_t step,
                                    int64_t total_steps, const nlohmann::json& metrics) = 0;
  virtual Job complete(const std::string& job_id, const std::string& lease_id, const std::string& artifact_ref) = 0;
  // Retryable and failures (attempts - preemptions, this one included) < max_attempts, or a
  // retryable kPreempted hand-back: queued again; else failed. With cancel requested: cancelled.
  // Records an `error` event either way.
  virtual Job fail(const std::string& job_id, const std::string& lease_id, const JobError& error, bool retryable) = 0;
  // The worker stopped after a cancel request: -> cancelled. Without a request: conflict.
  virtual Job cancelled(const std::string& job_id, const std::string& lease_id) = 0;
  // Every live job whose lease expired at or before `now` goes back to queued with attempts + 1
  // (failed once its failures reach max_attempts; cancelled if cancel was requested). Returns the
  // jobs' ids.
  virtual std::vector<std::string> expire_leases(Time now) = 0;

  // The group's Slurm job ended (or the group is otherwise known to be dead): every live job it
  // holds ends its attempt at once, like a lease expiry (attempts + 1; queued again, or
  // failed/cancelled by the same rules) with `error` (code non-empty), and the group is marked
  // ended (ended_at = now) until it registers again; lease() by an ended group is not_found (the
  // worker registers again). Returns the released jobs' ids. Unknown group: not_found.
  virtual std::vector<std::string> release_group(const std::string& group_id, const JobError& error) = 0;

  // Launched Slurm jobs (the launcher's durable memory): insert or replace by slurm_job_id.
  virtual void record_launch(const LaunchedJob& launch) = 0;
  // Launched jobs, in submission order; ended ones only with include_ended.
  virtual std::vector<LaunchedJob> launched_jobs(bool include_ended = false) = 0;
  virtual LauncherSnapshot launcher_snapshot(Time groups_seen_since) = 0;

  virtual StoreStats stats(Time active_since) = 0;
};

}  // namespace trellis
