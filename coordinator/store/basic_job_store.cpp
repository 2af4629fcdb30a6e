#include "coordinator/store/basic_job_store.h"

#include "common/error.h"
#include "coordinator/store/job_transitions.h"

namespace trellis {

namespace {

[[noreturn]] void invalid(const std::string& m) { throw Error(ErrorCode::invalid, m); }
[[noreturn]] void conflict(const std::string& m) { throw Error(ErrorCode::conflict, m); }

void check_limit(int limit) {
  if (limit < 1 || limit > 1000) invalid("limit must be in [1, 1000], got " + std::to_string(limit) + ".");
}

}  // namespace

template <class F>
auto BasicJobStore::transact(F&& f) -> decltype(f()) {
  std::lock_guard lock(mutex_);
  begin();
  try {
    if constexpr (std::is_void_v<decltype(f())>) {
      f();
      commit();
    } else {
      auto result = f();
      commit();
      return result;
    }
  } catch (...) {
    rollback();
    throw;
  }
}

Job BasicJobStore::must_load(const std::string& job_id) {
  auto job = load_job(job_id);
  if (!job) throw Error(ErrorCode::not_found, "No job '" + job_id + "'.");
  return *job;
}

void BasicJobStore::check_lease(const Job& job, const std::string& lease_id, Time now) const {
  if (!is_live(job.state)) conflict("Job '" + job.id + "' is " + to_string(job.state) + ": it holds no lease.");
  if (job.lease_id != lease_id)
    conflict("Lease '" + lease_id + "' of job '" + job.id + "' is stale (the job is now held by lease '" +
             job.lease_id + "').");
  if (job.lease_expires_at && *job.lease_expires_at <= now)
    conflict("Lease '" + lease_id + "' of job '" + job.id + "' has expired.");
}

void BasicJobStore::touch_group(const std::string& group_id, Time now) {
  if (auto g = load_group(group_id)) {
    g->last_seen = now;
    save_group(*g);
  }
}

void BasicJobStore::record(Job& job, EventKind kind, nlohmann::json payload, Time now,
                           std::vector<JobEvent>& events) const {
  events.push_back(JobEvent{job.id, ++job.last_event_seq, now, kind, std::move(payload)});
}

void BasicJobStore::move(Job& job, JobState to, Time now, const nlohmann::json& extra,
                         std::vector<JobEvent>& events) const {
  check_transition(job.id, job.state, to);
  nlohmann::json payload = {{"from", to_string(job.state)}, {"to", to_string(to)}, {"attempts", job.attempts}};
  if (extra.is_object()) payload.update(extra);
  job.state = to;
  job.updated_at = now;
  if (to == JobState::running && !job.started_at) job.started_at = now;
  if (is_terminal(to)) job.finished_at = now;
  if (!is_live(to)) {
    job.lease_id.clear();
    job.lease_group_id.clear();
    job.lease_expires_at.reset();
    job.lease_ttl = std::chrono::milliseconds(0);
    job.cancel_requested = job.cancel_requested && is_terminal(to);
  }
  record(job, EventKind::state, std::move(payload), now, events);
}

void BasicJobStore::write(const Job& job, const std::vector<JobEvent>& events, bool is_new) {
  if (is_new) insert_job(job);
  else update_job(job);
  for (const auto& e : events) insert_event(e);
}

void BasicJobStore::end_attempt(Job& job, const JobError& error, bool retryable, const std::string& reason, Time now,
                                std::vector<JobEvent>& events) const {
  job.error = error;
  job.attempts += 1;
  const bool handed_back = retryable && error.code == kPreempted;
  if (handed_back) job.preemptions += 1;
  record(job, EventKind::error,
         {{"code", error.code},
          {"message", error.message},
          {"retryable", retryable},
          {"attempts", job.attempts},
          {"preemptions", job.preemptions}},
         now, events);
  nlohmann::json extra = {{"reason", reason}};
  if (job.cancel_requested) move(job, JobState::cancelled, now, extra, events);
  else if (handed_back || (retryable && job.failures() < job.max_attempts))
    move(job, JobState::queued, now, extra, events);
  else move(job, JobState::failed, now, extra, events);
}

SubmitResult BasicJobStore::submit(const SubmitRequest& request) {
  if (request.backbone_sha256.empty()) invalid("A job needs its backbone's sha256.");
  if (request.max_attempts < 1) invalid("max_attempts must be >= 1, got " + std::to_string(request.max_attempts) + ".");
  if (request.idempotency_key && request.idempotency_key->empty()) invalid("An idempotency key must not be empty.");
  // The canonical spec (validated, defaults filled in): what the store keeps and compares.
  JobSpec spec;
  try {
    spec = parse_job_spec(to_json(request.spec), "job spec");
  } catch (const Error& e) {
    if (e.code() != ErrorCode::internal) throw;  // the spec parser's errors are the caller's
    invalid(e.what());
  }
  PendingSubmit pending{&request, std::move(spec), {}, {}, {}, false};
  pending.spec_json = to_json(pending.spec);
  return group_commit(pending);
}

// Group commit: concurrent submits share one transaction (one fsync). The first caller to find
// no leader becomes one, commits everything queued at that moment, then hands over; the others
// wait for their result. A validation error fails one submit; a storage error fails the batch.
SubmitResult BasicJobStore::group_commit(PendingSubmit& mine) {
  std::unique_lock lock(submit_mutex_);
  submit_queue_.push_back(&mine);
  submit_cv_.wait(lock, [&] { return mine.done || !submit_leader_; });
  if (!mine.done) {
    submit_leader_ = true;
    std::vector<PendingSubmit*> batch;
    batch.swap(submit_queue_);
    lock.unlock();
    try {
      transact([&] {
        for (PendingSubmit* p : batch) {
          try {
            p->result = insert_submission(*p);
          } catch (const Error& e) {
            if (e.code() == ErrorCode::io || e.code() == ErrorCode::internal) throw;
            p->error = std::current_exception();
          }
        }
      });
    } catch (...) {
      for (PendingSubmit* p : batch) {
        p->result.reset();
        p->error = std::current_exception();
      }
    }
    lock.lock();
    for (PendingSubmit* p : batch) p->done = true;
    submit_leader_ = false;
    submit_cv_.notify_all();
  }
  if (mine.error) std::rethrow_exception(mine.error);
  return *mine.result;
}

SubmitResult BasicJobStore::insert_submission(const PendingSubmit& p) {
  const SubmitRequest& request = *p.request;
  if (request.idempotency_key) {
    if (auto id = job_id_for_key(*request.idempotency_key)) {
      Job job = must_load(*id);
      if (to_json(job.spec) != p.spec_json || job.backbone_sha256 != request.backbone_sha256 ||
          job.priority != request.priority || job.max_attempts != request.max_attempts)
        conflict("The idempotency key '" + *request.idempotency_key + "' was used for another request (job '" + job.id +
                 "').");
      return SubmitResult{job, false};
    }
  }
  const Time t = now();
  Job job;
  job.id = new_random_id("j-");
  job.spec = p.spec;
  job.backbone_sha256 = request.backbone_sha256;
  job.max_attempts = request.max_attempts;
  job.priority = request.priority;
  job.idempotency_key = request.idempotency_key;
  job.created_at = job.updated_at = t;
  job.submit_seq = max_submit_seq() + 1;
  std::vector<JobEvent> events;
  record(job, EventKind::state, {{"from", nullptr}, {"to", "queued"}, {"attempts", 0}}, t, events);
  write(job, events, true);
  return SubmitResult{job, true};
}

Job BasicJobStore::get(const std::string& job_id) {
  std::lock_guard lock(mutex_);
  return must_load(job_id);
}

StoreStats BasicJobStore::stats(Time active_since) {
  std::lock_guard lock(mutex_);
  StoreStats out;
  for (JobState s : {JobState::queued, JobState::leased, JobState::running, JobState::succeeded, JobState::failed,
                     JobState::cancelled})
    out.jobs_by_state[s] = 0;
  for (const auto& [state, n] : count_jobs_by_state()) out.jobs_by_state[state] = n;
  out.groups_active = count_groups_seen_since(to_millis(active_since));
  return out;
}

std::vector<Job> BasicJobStore::list(const ListQuery& query) {
  check_limit(query.limit);
  std::lock_guard lock(mutex_);
  int64_t after_seq = 0;
  if (query.after) {
    auto cursor = load_job(*query.after);
    if (!cursor) invalid("The cursor 'after' names no job ('" + *query.after + "').");
    after_seq = cursor->submit_seq;
  }
  return query_jobs(query, after_seq);
}

std::vector<Job> BasicJobStore::live_jobs() {
  std::lock_guard lock(mutex_);  // every change takes it: the pages below see one state
  std::vector<Job> out;
  for (JobState state : {JobState::queued, JobState::leased, JobState::running}) {
    ListQuery query;
    query.state = state;
    query.limit = 1000;
    int64_t after_seq = 0;
    for (;;) {
      std::vector<Job> page = query_jobs(query, after_seq);
      if (page.empty()) break;
      after_seq = page.back().submit_seq;
      const bool last = static_cast<int>(page.size()) < query.limit;
      out.insert(out.end(), std::make_move_iterator(page.begin()), std::make_move_iterator(page.end()));
      if (last) break;
    }
  }
  return out;
}

std::optional<int64_t> BasicJobStore::queue_position(const std::string& job_id, int64_t cap) {
  std::lock_guard lock(mutex_);
  const Job job = must_load(job_id);
  if (job.state != JobState::queued) return std::nullopt;
  return count_queued_ahead(job, cap);
}

std::optional<int64_t> BasicJobStore::queue_position_of(const Job& job, int64_t cap) {
  if (job.state != JobState::queued) return std::nullopt;
  std::lock_guard lock(mutex_);
  return count_queued_ahead(job, cap);
}

std::vector<JobEvent> BasicJobStore::events(const std::string& job_id, int64_t after_seq, int limit) {
  check_limit(limit);
  if (after_seq < 0) invalid("'after' must be >= 0.");
  std::lock_guard lock(mutex_);
  must_load(job_id);
  return load_events(job_id, after_seq, limit);
}

Job BasicJobStore::cancel(const std::string& job_id) {
  return transact([&] {
    Job job = must_load(job_id);
    const Time t = now();
    if (is_terminal(job.state)) conflict("Job '" + job.id + "' is already " + to_string(job.state) + ".");
    std::vector<JobEvent> events;
    if (job.state == JobState::queued) {
      move(job, JobState::cancelled, t, {{"reason", "cancel"}}, events);
    } else if (!job.cancel_requested) {
      job.cancel_requested = true;
      job.updated_at = t;
      record(job, EventKind::state,
             {{"from", to_string(job.state)},
              {"to", to_string(job.state)},
              {"attempts", job.attempts},
              {"cancel_requested", true}},
             t, events);
    }
    if (!events.empty()) write(job, events, false);
    return job;
  });
}

Group BasicJobStore::register_group(const Group& group) {
  if (group.id.empty()) invalid("A group needs an id.");
  if (group.slurm_job_id.size() > 64) invalid("Group '" + group.id + "': slurm_job_id is too long.");
  if (group.backbone_sha256.empty()) invalid("Group '" + group.id + "' needs its backbone's sha256.");
  if (group.world_size < 1) invalid("Group '" + group.id + "' needs world_size >= 1.");
  return transact([&] {
    Group g = group;
    g.last_seen = now();
    g.ended_at.reset();
    save_group(g);
    return g;
  });
}

Group BasicJobStore::get_group(const std::string& group_id) {
  std::lock_guard lock(mutex_);
  auto g = load_group(group_id);
  if (!g) throw Error(ErrorCode::not_found, "No worker group '" + group_id + "'.");
  return *g;
}

std::optional<Lease> BasicJobStore::lease(const std::string& group_id, std::chrono::milliseconds ttl) {
  if (ttl.count() <= 0) invalid("A lease needs a positive ttl.");
  return transact([&]() -> std::optional<Lease> {
    auto group = load_group(group_id);
    if (!group) throw Error(ErrorCode::not_found, "No worker group '" + group_id + "'.");
    if (group->ended_at)
      throw Error(ErrorCode::not_found, "Worker group '" + group_id + "' has ended; register again.");
    const Time t = now();
    group->last_seen = t;
    save_group(*group);
    auto id = next_queued(group->backbone_sha256);
    if (!id) return std::nullopt;
    Job job = must_load(*id);
    job.lease_id = new_random_id("l-");
    job.lease_group_id = group_id;
    job.lease_expires_at = t + ttl;
    job.lease_ttl = ttl;
    std::vector<JobEvent> events;
    move(job, JobState::leased, t, {{"group", group_id}, {"lease", job.lease_id}}, events);
    write(job, events, false);
    return Lease{job.lease_id, job, *job.lease_expires_at};
  });
}

HeartbeatAction BasicJobStore::heartbeat(const std::string& job_id, const std::string& lease_id, int64_t step,
                                         int64_t total_steps, const nlohmann::json& metrics) {
  if (step < 0 || total_steps < 0) invalid("step and total_steps must be >= 0.");
  if (!metrics.is_null() && !metrics.is_object()) invalid("metrics must be a JSON object.");
  return transact([&] {
    Job job = must_load(job_id);
    const Time t = now();
    check_lease(job, lease_id, t);
    std::vector<JobEvent> events;
    if (job.state == JobState::leased) move(job, JobState::running, t, nullptr, events);
    if (step != job.step || total_steps != job.total_steps) {
      job.step = step;
      job.total_steps = total_steps;
      record(job, EventKind::progress, {{"step", step}, {"total_steps", total_steps}}, t, events);
    }
    if (metrics.is_object() && !metrics.empty()) {
      job.metrics = metrics;
      record(job, EventKind::metrics, {{"step", step}, {"metrics", metrics}}, t, events);
    }
    job.lease_expires_at = t + job.lease_ttl;
    job.updated_at = t;
    write(job, events, false);
    touch_group(job.lease_group_id, t);
    return job.cancel_requested ? HeartbeatAction::cancel : HeartbeatAction::proceed;
  });
}

Job BasicJobStore::complete(const std::string& job_id, const std::string& lease_id, const std::string& artifact_ref) {
  if (artifact_ref.empty()) invalid("complete needs the artifact reference.");
  return transact([&] {
    Job job = must_load(job_id);
    const Time t = now();
    check_lease(job, lease_id, t);
    std::vector<JobEvent> events;
    job.artifact_ref = artifact_ref;
    const std::string group = job.lease_group_id;
    move(job, JobState::succeeded, t, {{"artifact", artifact_ref}}, events);
    write(job, events, false);
    touch_group(group, t);
    return job;
  });
}

Job BasicJobStore::fail(const std::string& job_id, const std::string& lease_id, const JobError& error, bool retryable) {
  if (error.code.empty()) invalid("fail needs an error code.");
  return transact([&] {
    Job job = must_load(job_id);
    const Time t = now();
    check_lease(job, lease_id, t);
    std::vector<JobEvent> events;
    const std::string group = job.lease_group_id;
    end_attempt(job, error, retryable, "fail", t, events);
    write(job, events, false);
    touch_group(group, t);
    return job;
  });
}

Job BasicJobStore::cancelled(const std::string& job_id, const std::string& lease_id) {
  return transact([&] {
    Job job = must_load(job_id);
    const Time t = now();
    check_lease(job, lease_id, t);
    if (!job.cancel_requested) conflict("Job '" + job.id + "' was not asked to cancel.");
    std::vector<JobEvent> events;
    const std::string group = job.lease_group_id;
    move(job, JobState::cancelled, t, {{"reason", "cancel"}}, events);
    write(job, events, false);
    touch_group(group, t);
    return job;
  });
}

std::vector<std::string> BasicJobStore::expire_leases(Time now_arg) {
  const Time t = to_millis(now_arg);
  return transact([&] {
    std::vector<std::string> ids = expired_jobs(t);
    for (const auto& id : ids) {
      Job job = must_load(id);
      std::vector<JobEvent> events;
      JobError error{"lease_expired", "The lease '" + job.lease_id + "' of worker group '" + job.lease_group_id +
                                          "' expired without a heartbeat."};
      end_attempt(job, error, true, "lease_expired", t, events);
      write(job, events, false);
    }
    return ids;
  });
}

std::vector<std::string> BasicJobStore::release_group(const std::string& group_id, const JobError& error) {
  if (error.code.empty()) invalid("release_group needs an error code.");
  return transact([&] {
    auto group = load_group(group_id);
    if (!group) throw Error(ErrorCode::not_found, "No worker group '" + group_id + "'.");
    const Time t = now();
    std::vector<std::string> ids = live_jobs_of_group(group_id);
    for (const auto& id : ids) {
      Job job = must_load(id);
      std::vector<JobEvent> events;
      end_attempt(job, error, true, error.code, t, events);
      write(job, events, false);
    }
    if (!group->ended_at) {
      group->ended_at = t;
      save_group(*group);
    }
    return ids;
  });
}

void BasicJobStore::record_launch(const LaunchedJob& launch) {
  if (launch.slurm_job_id.empty() || launch.slurm_job_id.size() > 64)
    invalid("A launched job needs a Slurm job id of 1 to 64 characters.");
  if (launch.backbone_sha256.empty()) invalid("A launched job needs its backbone's sha256.");
  transact([&] {
    LaunchedJob l = launch;
    l.submitted_at = to_millis(l.submitted_at);
    if (l.cancel_requested_at) l.cancel_requested_at = to_millis(*l.cancel_requested_at);
    if (l.ended_at) l.ended_at = to_millis(*l.ended_at);
    save_launch(l);
  });
}

std::vector<LaunchedJob> BasicJobStore::launched_jobs(bool include_ended) {
  std::lock_guard lock(mutex_);
  return load_launches(include_ended);
}

LauncherSnapshot BasicJobStore::launcher_snapshot(Time groups_seen_since) {
  std::lock_guard lock(mutex_);
  LauncherSnapshot out;
  out.queued = count_queued_by_backbone();
  const auto live = count_live_by_group();
  for (Group& g : load_groups_seen_since(to_millis(groups_seen_since))) {
    auto it = live.find(g.id);
    out.groups.push_back(GroupActivity{std::move(g), it == live.end() ? 0 : it->second});
  }
  out.launches = load_launches(false);
  return out;
}

}  // namespace trellis
