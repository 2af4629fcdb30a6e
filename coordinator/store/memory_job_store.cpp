#include "coordinator/store/memory_job_store.h"

namespace trellis {

namespace {
// True if a goes before b in the queue: priority desc, then submission order.
bool ahead(const Job& a, const Job& b) {
  return a.priority != b.priority ? a.priority > b.priority : a.submit_seq < b.submit_seq;
}
}  // namespace

std::optional<Job> MemoryJobStore::load_job(const std::string& job_id) {
  auto it = seq_by_id_.find(job_id);
  if (it == seq_by_id_.end()) return std::nullopt;
  return jobs_.at(it->second);
}

std::optional<std::string> MemoryJobStore::job_id_for_key(const std::string& key) {
  auto it = id_by_key_.find(key);
  if (it == id_by_key_.end()) return std::nullopt;
  return it->second;
}

int64_t MemoryJobStore::max_submit_seq() { return jobs_.empty() ? 0 : jobs_.rbegin()->first; }

void MemoryJobStore::insert_job(const Job& job) {
  jobs_[job.submit_seq] = job;
  seq_by_id_[job.id] = job.submit_seq;
  if (job.idempotency_key) id_by_key_[*job.idempotency_key] = job.id;
}

void MemoryJobStore::update_job(const Job& job) { jobs_.at(seq_by_id_.at(job.id)) = job; }

void MemoryJobStore::insert_event(const JobEvent& event) { events_[event.job_id].push_back(event); }

std::vector<JobEvent> MemoryJobStore::load_events(const std::string& job_id, int64_t after_seq, int limit) {
  std::vector<JobEvent> out;
  for (const auto& e : events_[job_id]) {
    if (e.seq <= after_seq) continue;
    if (static_cast<int>(out.size()) >= limit) break;
    out.push_back(e);
  }
  return out;
}

std::optional<std::string> MemoryJobStore::next_queued(const std::string& sha) {
  const Job* best = nullptr;
  for (const auto& [seq, job] : jobs_)
    if (job.state == JobState::queued && job.backbone_sha256 == sha && (!best || ahead(job, *best))) best = &job;
  if (!best) return std::nullopt;
  return best->id;
}

int64_t MemoryJobStore::count_queued_ahead(const Job& target, int64_t cap) {
  int64_t n = 0;
  for (const auto& [seq, job] : jobs_) {
    if (n >= cap) break;
    if (job.state == JobState::queued && job.backbone_sha256 == target.backbone_sha256 && ahead(job, target)) ++n;
  }
  return n;
}

std::vector<Job> MemoryJobStore::query_jobs(const ListQuery& query, int64_t after_seq) {
  std::vector<Job> out;
  for (auto it = jobs_.upper_bound(after_seq); it != jobs_.end(); ++it) {
    const Job& job = it->second;
    if (query.state && job.state != *query.state) continue;
    if (query.task && job.spec.task != *query.task) continue;
    if (static_cast<int>(out.size()) >= query.limit) break;
    out.push_back(job);
  }
  return out;
}

std::vector<std::string> MemoryJobStore::expired_jobs(Time now) {
  std::vector<std::string> out;
  for (const auto& [seq, job] : jobs_)
    if (is_live(job.state) && job.lease_expires_at && *job.lease_expires_at <= now) out.push_back(job.id);
  return out;
}

std::optional<Group> MemoryJobStore::load_group(const std::string& group_id) {
  auto it = groups_.find(group_id);
  if (it == groups_.end()) return std::nullopt;
  return it->second;
}

void MemoryJobStore::save_group(const Group& group) { groups_[group.id] = group; }

std::map<JobState, int64_t> MemoryJobStore::count_jobs_by_state() {
  std::map<JobState, int64_t> out;
  for (const auto& [seq, job] : jobs_) ++out[job.state];
  return out;
}

int64_t MemoryJobStore::count_groups_seen_since(Time t) {
  int64_t n = 0;
  for (const auto& [id, g] : groups_) n += g.last_seen >= t;
  return n;
}

std::vector<std::string> MemoryJobStore::live_jobs_of_group(const std::string& group_id) {
  std::vector<std::string> out;
  for (const auto& [seq, job] : jobs_)
    if (is_live(job.state) && job.lease_group_id == group_id) out.push_back(job.id);
  return out;
}

std::vector<Group> MemoryJobStore::load_groups_seen_since(Time t) {
  std::map<std::string, Group> sorted;  // by id, like the SQLite store
  for (const auto& [id, g] : groups_)
    if (!g.ended_at && g.last_seen >= t) sorted.emplace(id, g);
  std::vector<Group> out;
  out.reserve(sorted.size());
  for (auto& [id, g] : sorted) out.push_back(std::move(g));
  return out;
}

std::map<std::string, int64_t> MemoryJobStore::count_live_by_group() {
  std::map<std::string, int64_t> out;
  for (const auto& [seq, job] : jobs_)
    if (is_live(job.state)) ++out[job.lease_group_id];
  return out;
}

std::map<std::string, QueuedBackbone> MemoryJobStore::count_queued_by_backbone() {
  std::map<std::string, QueuedBackbone> out;
  for (const auto& [seq, job] : jobs_) {
    if (job.state != JobState::queued) continue;
    QueuedBackbone& q = out[job.backbone_sha256];
    if (q.queued++ == 0) q.backbone_name = job.spec.backbone;
  }
  return out;
}

void MemoryJobStore::save_launch(const LaunchedJob& launch) {
  for (auto& l : launches_)
    if (l.slurm_job_id == launch.slurm_job_id) {
      l = launch;
      return;
    }
  launches_.push_back(launch);
}

std::vector<LaunchedJob> MemoryJobStore::load_launches(bool include_ended) {
  std::vector<LaunchedJob> out;
  for (const auto& l : launches_)
    if (include_ended || l.state != LaunchState::ended) out.push_back(l);
  return out;
}

}  // namespace trellis
