#pragma once
// JobService: every operation that changes a job or a worker group, between the routes and the
// store. Each method makes the store change, then sends the change notifications: "job/<id>" for
// every job it changed, and "backbone/<sha256>" whenever a group of that backbone may now lease
// something (a submit, a job queued again); a created job also calls on_submitted (the launcher's
// wake-up). complete() first checks in the registry that the reported "task@N" is a version the job
// itself published. The routes parse, call one method and answer; the lease-expiry timer and the
// launcher call expire_leases() and release_group().
// Errors are trellis::Error with the store's codes (not_found, conflict, invalid, io); a malformed
// job or group id is not_found, like an unknown one.
// Ownership: the store, the registry and the callbacks are not owned; they must outlive the service.
// Thread-safety: every method may be called from any thread at once (the store serialises itself;
// `notify` and `on_submitted` must be thread-safe and quick). set_on_submitted() before serving.
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "coordinator/store/job_store.h"
#include "registry/artifact_registry.h"

namespace trellis::jobs {

std::string job_topic(const std::string& job_id);                // "job/<id>"
std::string backbone_topic(const std::string& backbone_sha256);  // "backbone/<sha256>"

class JobService {
 public:
  using Notify = std::function<void(const std::string& topic)>;

  JobService(JobStore& store, const ArtifactRegistry& registry, Notify notify);
  void set_on_submitted(std::function<void()> on_submitted) { on_submitted_ = std::move(on_submitted); }

  // Reads go straight to the store (list, events, queue positions).
  JobStore& store() { return store_; }
  Job get(const std::string& job_id);

  SubmitResult submit(const SubmitRequest& request);
  Job cancel(const std::string& job_id);

  Group register_group(const Group& group);
  std::optional<Lease> lease(const std::string& group_id, std::chrono::milliseconds ttl);
  HeartbeatAction heartbeat(const std::string& job_id, const std::string& lease_id, int64_t step, int64_t total_steps,
                            const nlohmann::json& metrics);
  // Error(conflict) when `artifact_ref` is not a version of this job in the registry
  // (check_artifact_of_job), before the store is changed.
  Job complete(const std::string& job_id, const std::string& lease_id, const std::string& artifact_ref);
  Job fail(const std::string& job_id, const std::string& lease_id, const JobError& error, bool retryable);
  Job cancelled(const std::string& job_id, const std::string& lease_id);

  std::vector<std::string> expire_leases(Time now);
  std::vector<std::string> release_group(const std::string& group_id, const JobError& error);

 private:
  void job_changed(const Job& job);  // job/<id>, and backbone/<sha> when it is queued
  JobStore& store_;
  const ArtifactRegistry& registry_;
  Notify notify_;
  std::function<void()> on_submitted_;
};

}  // namespace trellis::jobs
