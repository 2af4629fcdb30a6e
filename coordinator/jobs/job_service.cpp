#include "coordinator/jobs/job_service.h"

#include "common/error.h"
#include "coordinator/jobs/artifact_check.h"

namespace trellis::jobs {

std::string job_topic(const std::string& job_id) { return "job/" + job_id; }
std::string backbone_topic(const std::string& backbone_sha256) { return "backbone/" + backbone_sha256; }

namespace {

void check_job_id(const std::string& id) {
  if (!valid_job_id(id)) throw Error(ErrorCode::not_found, "no job '" + id.substr(0, 80) + "'");
}

}  // namespace

JobService::JobService(JobStore& store, const ArtifactRegistry& registry, Notify notify)
    : store_(store), registry_(registry), notify_(std::move(notify)) {}

void JobService::job_changed(const Job& job) {
  if (!notify_) return;
  notify_(job_topic(job.id));
  if (job.state == JobState::queued) notify_(backbone_topic(job.backbone_sha256));
}

Job JobService::get(const std::string& job_id) {
  check_job_id(job_id);
  return store_.get(job_id);
}

SubmitResult JobService::submit(const SubmitRequest& request) {
  SubmitResult result = store_.submit(request);
  if (result.created) {
    if (notify_) notify_(backbone_topic(result.job.backbone_sha256));
    if (on_submitted_) on_submitted_();
  }
  return result;
}

Job JobService::cancel(const std::string& job_id) {
  check_job_id(job_id);
  Job job = store_.cancel(job_id);
  if (notify_) notify_(job_topic(job.id));
  return job;
}

Group JobService::register_group(const Group& group) { return store_.register_group(group); }

std::optional<Lease> JobService::lease(const std::string& group_id, std::chrono::milliseconds ttl) {
  std::optional<Lease> lease = store_.lease(group_id, ttl);
  if (lease && notify_) notify_(job_topic(lease->job.id));
  return lease;
}

HeartbeatAction JobService::heartbeat(const std::string& job_id, const std::string& lease_id, int64_t step,
                                      int64_t total_steps, const nlohmann::json& metrics) {
  check_job_id(job_id);
  const HeartbeatAction reply = store_.heartbeat(job_id, lease_id, step, total_steps, metrics);
  if (notify_) notify_(job_topic(job_id));
  return reply;
}

Job JobService::complete(const std::string& job_id, const std::string& lease_id, const std::string& artifact_ref) {
  check_job_id(job_id);
  check_artifact_of_job(registry_, store_.get(job_id), artifact_ref);
  Job job = store_.complete(job_id, lease_id, artifact_ref);
  job_changed(job);
  return job;
}

Job JobService::fail(const std::string& job_id, const std::string& lease_id, const JobError& error, bool retryable) {
  check_job_id(job_id);
  Job job = store_.fail(job_id, lease_id, error, retryable);
  job_changed(job);
  return job;
}

Job JobService::cancelled(const std::string& job_id, const std::string& lease_id) {
  check_job_id(job_id);
  Job job = store_.cancelled(job_id, lease_id);
  job_changed(job);
  return job;
}

std::vector<std::string> JobService::expire_leases(Time now) {
  std::vector<std::string> ids = store_.expire_leases(now);
  for (const std::string& id : ids) job_changed(store_.get(id));
  return ids;
}

std::vector<std::string> JobService::release_group(const std::string& group_id, const JobError& error) {
  std::vector<std::string> ids = store_.release_group(group_id, error);
  for (const std::string& id : ids) job_changed(store_.get(id));
  return ids;
}

}  // namespace trellis::jobs
