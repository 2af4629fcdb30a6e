#pragma once
// BasicJobStore: the job state machine of job.h over a few storage primitives, so that the
// SQLite store and its in-memory twin share every transition and differ only in storage.
//
// Contract for subclasses: the primitives are called with the store's mutex held; mutating
// operations run between begin() and commit() (rollback() on any exception). Every operation
// validates before its first write, so a store whose writes cannot fail (MemoryJobStore) may
// implement begin/commit/rollback as no-ops.
#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>

#include "coordinator/store/job_store.h"

namespace trellis {

class BasicJobStore : public JobStore {
 public:
  explicit BasicJobStore(const Clock& clock) : clock_(clock) {}
  BasicJobStore(const BasicJobStore&) = delete;
  BasicJobStore& operator=(const BasicJobStore&) = delete;

  SubmitResult submit(const SubmitRequest& request) override;
  Job get(const std::string& job_id) override;
  std::vector<Job> list(const ListQuery& query) override;
  std::vector<Job> live_jobs() override;
  std::optional<int64_t> queue_position(const std::string& job_id, int64_t cap = kQueuePositionCap) override;
  std::optional<int64_t> queue_position_of(const Job& job, int64_t cap = kQueuePositionCap) override;
  std::vector<JobEvent> events(const std::string& job_id, int64_t after_seq, int limit) override;
  Job cancel(const std::string& job_id) override;
  Group register_group(const Group& group) override;
  Group get_group(const std::string& group_id) override;
  std::optional<Lease> lease(const std::string& group_id, std::chrono::milliseconds ttl) override;
  HeartbeatAction heartbeat(const std::string& job_id, const std::string& lease_id, int64_t step, int64_t total_steps,
                            const nlohmann::json& metrics) override;
  Job complete(const std::string& job_id, const std::string& lease_id, const std::string& artifact_ref) override;
  Job fail(const std::string& job_id, const std::string& lease_id, const JobError& error, bool retryable) override;
  Job cancelled(const std::string& job_id, const std::string& lease_id) override;
  std::vector<std::string> expire_leases(Time now) override;
  std::vector<std::string> release_group(const std::string& group_id, const JobError& error) override;
  void record_launch(const LaunchedJob& launch) override;
  std::vector<LaunchedJob> launched_jobs(bool include_ended = false) override;
  LauncherSnapshot launcher_snapshot(Time groups_seen_since) override;
  StoreStats stats(Time active_since) override;

 protected:
  virtual void begin() = 0;
  virtual void commit() = 0;
  virtual void rollback() noexcept = 0;

  virtual std::optional<Job> load_job(const std::string& job_id) = 0;
  virtual std::optional<std::string> job_id_for_key(const std::string& idempotency_key) = 0;
  virtual int64_t max_submit_seq() = 0;  // 0 when empty
  virtual void insert_job(const Job& job) = 0;
  virtual void update_job(const Job& job) = 0;
  virtual void insert_event(const JobEvent& event) = 0;
  virtual std::vector<JobEvent> load_events(const std::string& job_id, int64_t after_seq, int limit) = 0;
  // The id of the next queued job for this backbone (priority desc, submit_seq asc).
  virtual std::optional<std::string> next_queued(const std::string& backbone_sha256) = 0;
  // Queued jobs of the same backbone that go before `job`, counted up to `cap`.
  virtual int64_t count_queued_ahead(const Job& job, int64_t cap) = 0;
  // Filtered jobs with submit_seq > after_seq, in submission order, at most query.limit.
  virtual std::vector<Job> query_jobs(const ListQuery& query, int64_t after_seq) = 0;
  // Live jobs whose lease expired at or before `now`, in submission order.
  virtual std::vector<std::string> expired_jobs(Time now) = 0;
  virtual std::optional<Group> load_group(const std::string& group_id) = 0;
  virtual void save_group(const Group& group) = 0;                // insert or replace
  virtual std::map<JobState, int64_t> count_jobs_by_state() = 0;  // states without jobs may be absent
  virtual int64_t count_groups_seen_since(Time t) = 0;
  // Live jobs leased by this group, in submission order.
  virtual std::vector<std::string> live_jobs_of_group(const std::string& group_id) = 0;
  // Groups not ended and seen at or after t.
  virtual std::vector<Group> load_groups_seen_since(Time t) = 0;
  virtual std::map<std::string, int64_t> count_live_by_group() = 0;
  virtual std::map<std::string, QueuedBackbone> count_queued_by_backbone() = 0;
  virtual void save_launch(const LaunchedJob& launch) = 0;                 // insert or replace
  virtual std::vector<LaunchedJob> load_launches(bool include_ended) = 0;  // submission order

 private:
  Time now() const { return to_millis(clock_.now()); }
  // Runs f with the mutex held inside begin()/commit().
  template <class F>
  auto transact(F&& f) -> decltype(f());
  Job must_load(const std::string& job_id);
  void check_lease(const Job& job, const std::string& lease_id, Time now) const;
  void touch_group(const std::string& group_id, Time now);
  void record(Job& job, EventKind kind, nlohmann::json payload, Time now, std::vector<JobEvent>& events) const;
  void move(Job& job, JobState to, Time now, const nlohmann::json& extra, std::vector<JobEvent>& events) const;
  void write(const Job& job, const std::vector<JobEvent>& events, bool is_new);
  // The end of an attempt that did not succeed (fail or lost lease).
  void end_attempt(Job& job, const JobError& error, bool retryable, const std::string& reason, Time now,
                   std::vector<JobEvent>& events) const;

  struct PendingSubmit {
    const SubmitRequest* request;
    JobSpec spec;  // canonical
    nlohmann::json spec_json;
    std::optional<SubmitResult> result;
    std::exception_ptr error;
    bool done;
  };
  SubmitResult group_commit(PendingSubmit& mine);
  SubmitResult insert_submission(const PendingSubmit& p);  // inside a transaction

  const Clock& clock_;
  std::mutex mutex_;
  // Group commit of submits (see group_commit): guarded by submit_mutex_.
  std::mutex submit_mutex_;
  std::condition_variable submit_cv_;
  std::vector<PendingSubmit*> submit_queue_;
  bool submit_leader_ = false;
};

}  // namespace trellis
