#pragma once
// SqliteJobStore: the durable JobStore in one SQLite file (WAL, synchronous=FULL, foreign keys
// on). Every call that changes rows runs in one BEGIN IMMEDIATE transaction, so a call that
// returned survives kill -9 of the process, and a killed call leaves nothing half-written.
//
// Schema (version 2, recorded in schema_version): jobs (one row per job, the live lease in its
// lease_* columns, submit order in `seq`, idempotency_key UNIQUE), events (job_id, seq) ->
// jobs(id), groups (worker groups, with their Slurm job id and when they ended;
// jobs.lease_group_id -> groups(id)), launched_jobs (the Slurm jobs the launcher submitted).
// A version-1 file (no Slurm columns, no launched_jobs) is migrated in place when opened.
//
// Thread safety: one connection guarded by BasicJobStore's mutex; any thread may call. One
// process owns the file at a time (the coordinator); another writer would get SQLITE_BUSY
// after a 5 s busy timeout (io). Do not carry an open store across fork().
#include <filesystem>
#include <memory>

#include "coordinator/store/basic_job_store.h"

namespace trellis {

class SqliteDb;

class SqliteJobStore : public BasicJobStore {
 public:
  // Opens or creates the database (migrating an older schema); io error naming the path if it
  // cannot, or if its schema version is not one this build knows.
  SqliteJobStore(const std::filesystem::path& path, const Clock& clock);
  ~SqliteJobStore() override;

  static constexpr int kSchemaVersion = 3;

 protected:
  void begin() override;
  void commit() override;
  void rollback() noexcept override;
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
  void write_job(const std::string& sql, const Job& job);
  std::filesystem::path path_;
  std::unique_ptr<SqliteDb> db_;
};

}  // namespace trellis
