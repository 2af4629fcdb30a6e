#pragma once
// MemoryJobStore: the in-memory twin of SqliteJobStore, for handler tests (same transitions,
// same errors; nothing survives the object). Thread-safe like every JobStore.
#include <map>
#include <unordered_map>

#include "coordinator/store/basic_job_store.h"

namespace trellis {

class MemoryJobStore : public BasicJobStore {
 public:
  explicit MemoryJobStore(const Clock& clock) : BasicJobStore(clock) {}

 protected:
  void begin() override {}
  void commit() override {}
  void rollback() noexcept override {}
  std::optional<Job> load_job(const std::string& job_id) override;
  std::optional<std::string> job_id_for_key(const std::string& idempotency_key) override;
  int64_t max_submit_seq() override;
  void insert_job(const Job& job) override;
  void update_job(const Job& job) override;
  void insert_event(const JobEvent& event) override;
  std::vector<JobEvent> load_events(const std::string& job_id, int64_t after_seq, int limit) override;
  std::optional<std::string> next_queued(const std::string& backbone_sha256) override;
  int64_t count_queued_ahead(const Job& job, int64_t cap) override;
  std::vector<Job> query_jobs(const ListQuery& query, int64_t after_seq) override;
  std::vector<std::string> expired_jobs(Time now) override;
  std::optional<Group> load_group(const std::string& group_id) override;
  void save_group(const Group& group) override;
  std::map<JobState, int64_t> count_jobs_by_state() override;
  int64_t count_groups_seen_since(Time t) override;
  std::vector<std::string> live_jobs_of_group(const std::string& group_id) override;
  std::vector<Group> load_groups_seen_since(Time t) override;
  std::map<std::string, int64_t> count_live_by_group() override;
  std::map<std::string, QueuedBackbone> count_queued_by_backbone() override;
  void save_launch(const LaunchedJob& launch) override;
  std::vector<LaunchedJob> load_launches(bool include_ended) override;

 private:
  std::map<int64_t, Job> jobs_;  // by submit_seq
  std::unordered_map<std::string, int64_t> seq_by_id_;
  std::unordered_map<std::string, std::string> id_by_key_;
  std::unordered_map<std::string, std::vector<JobEvent>> events_;
  std::unordered_map<std::string, Group> groups_;
  std::vector<LaunchedJob> launches_;  // in submission (first record) order
};

}  // namespace trellis
