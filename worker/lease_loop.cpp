#include "worker/lease_loop.h"

#include <algorithm>
#include <utility>

#include "worker/disk_retention.h"

namespace trellis {

using protocol::LeaseStatus;

LeaseLoop::LeaseLoop(protocol::CoordinatorClient& client, LeaseLoopOptions options, JobInFlight& in_flight)
    : client_(client),
      options_(std::move(options)),
      in_flight_(in_flight),
      next_trim_(std::chrono::steady_clock::now()) {}

void LeaseLoop::log(const std::string& line) const {
  if (options_.log) options_.log(line);
}

void LeaseLoop::trim_if_due() {
  const auto retention = options_.cache_retention;
  if (retention.count() <= 0 || std::chrono::steady_clock::now() < next_trim_) return;
  next_trim_ = std::chrono::steady_clock::now() + std::chrono::hours(1);
  const DataCacheTrim trimmed = trim_data_cache(data_cache_dir(options_.jobs), retention);
  if (trimmed.files_removed > 0 && !options_.quiet)
    log("data cache: removed " + std::to_string(trimmed.files_removed) + " file(s) (" +
        std::to_string(trimmed.bytes_removed) + " bytes) unused for " + std::to_string(retention.count() / 1000) +
        " s");
  const auto checkpoints = trim_stale_checkpoints(options_.jobs.checkpoint_dir, retention);
  if (checkpoints > 0 && !options_.quiet)
    log("removed " + std::to_string(checkpoints) + " checkpoint(s) not written for " +
        std::to_string(retention.count() / 1000) + " s");
}

LeaseStep LeaseLoop::step() {
  LeaseStep step;
  if (!registered_) {
    registered_ = client_.register_group(options_.registration);
    if (!registered_) return step;                           // stopped
    options_.registration.group_id = registered_->group_id;  // a later re-registration keeps the id
    if (!options_.quiet) log("registered as group " + registered_->group_id + " with " + client_.server());
    step.kind = LeaseStep::Kind::registered;
    return step;
  }
  trim_if_due();
  protocol::LeaseGrant lease;
  const LeaseStatus status = client_.lease(registered_->group_id, options_.lease_wait_s, lease);
  if (status == LeaseStatus::stopped) return step;
  if (status == LeaseStatus::none) {
    step.kind = LeaseStep::Kind::no_job;
    return step;
  }
  if (status == LeaseStatus::unknown_group) {
    log("the coordinator does not know group " + registered_->group_id + "; registering again");
    registered_.reset();
    step.kind = LeaseStep::Kind::unknown_group;
    return step;
  }
  // Leased: heartbeats start now (downloads and preparation may outlast a lease TTL).
  step.job_id = lease.job.id;
  step.lease_id = lease.lease_id;
  // `attempts` counts the attempts that ended without success: this one is attempts + 1.
  step.attempt = lease.job.attempts + 1;
  int64_t interval = registered_->heartbeat_ms;
  if (lease.lease_ttl_ms > 0) interval = std::min<int64_t>(interval, std::max<int64_t>(1, lease.lease_ttl_ms / 3));
  if (options_.cancel) options_.cancel->store(false);
  in_flight_.job_id = step.job_id;
  in_flight_.lease_id = step.lease_id;
  in_flight_.heartbeat = std::make_unique<HeartbeatLoop>(client_, step.job_id, step.lease_id,
                                                         std::chrono::milliseconds(interval), options_.cancel);
  if (!options_.quiet) log("leased job " + step.job_id + " (lease " + step.lease_id + ")");
  LeasedJob leased = prepare_leased_job(lease.job, client_, options_.jobs);
  if (!leased.job) {
    in_flight_.heartbeat->stop();
    const bool lost = in_flight_.heartbeat->lease_lost();
    in_flight_.heartbeat.reset();
    if (!lost)
      client_.fail(
          step.job_id,
          {.lease_id = step.lease_id, .error = {leased.error_code, leased.error}, .retryable = leased.retryable});
    in_flight_.job_id.clear();
    step.kind = LeaseStep::Kind::refused;
    step.error_code = std::move(leased.error_code);
    step.error = std::move(leased.error);
    return step;
  }
  step.kind = LeaseStep::Kind::leased;
  step.job = std::move(leased.job);
  return step;
}

}  // namespace trellis
