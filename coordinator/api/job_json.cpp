#include "coordinator/api/job_json.h"

#include <algorithm>
#include <cstdio>
#include <ctime>

#include "coordinator/store/job_store.h"
#include "trainer/spec/job_spec.h"

namespace trellis::api {

std::string format_time(Time t) {
  const int64_t ms = millis_since_epoch(t);
  const std::time_t secs = static_cast<std::time_t>(ms / 1000 - (ms % 1000 < 0 ? 1 : 0));
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(((ms % 1000) + 1000) % 1000));
  return buf;
}

namespace {
nlohmann::json opt_time(const std::optional<Time>& t) { return t ? nlohmann::json(format_time(*t)) : nlohmann::json(); }
}  // namespace

std::optional<double> eta_seconds(const Job& job) {
  if (job.state != JobState::running || job.step <= 0 || job.total_steps <= 0) return std::nullopt;
  const double left = static_cast<double>(std::max<int64_t>(0, job.total_steps - job.step));
  if (job.metrics.is_object() && job.metrics.contains("samples_per_s") && job.metrics["samples_per_s"].is_number()) {
    const double rate = job.metrics["samples_per_s"].get<double>();
    if (rate > 0) return left * static_cast<double>(job.spec.train.batch_size) / rate;
  }
  if (!job.started_at) return std::nullopt;
  const double elapsed = std::chrono::duration<double>(job.updated_at - *job.started_at).count();
  if (elapsed <= 0) return std::nullopt;
  return left * elapsed / static_cast<double>(job.step);
}

nlohmann::json job_to_json(const Job& job, std::optional<int64_t> queue_position) {
  nlohmann::json j;
  j["id"] = job.id;
  j["task"] = job.spec.task;
  j["spec"] = to_json(job.spec);
  j["backbone"] = job.spec.backbone;
  j["backbone_sha256"] = job.backbone_sha256;
  j["state"] = to_string(job.state);
  j["attempts"] = job.attempts;
  j["max_attempts"] = job.max_attempts;
  j["preemptions"] = job.preemptions;
  j["priority"] = job.priority;
  j["queue_position"] = queue_position ? nlohmann::json(*queue_position) : nlohmann::json();
  // Counting stops at the cap: a position at the cap means "that many or more".
  j["queue_position_exact"] = queue_position ? nlohmann::json(*queue_position < JobStore::kQueuePositionCap)
                                             : nlohmann::json();
  j["cancel_requested"] = job.cancel_requested;
  const auto eta = eta_seconds(job);
  j["progress"] = {{"step", job.step}, {"total_steps", job.total_steps},
                   {"eta_seconds", eta ? nlohmann::json(*eta) : nlohmann::json()}};
  j["metrics"] = job.metrics;
  j["error"] = job.error ? nlohmann::json{{"code", job.error->code}, {"message", job.error->message}} : nlohmann::json();
  j["artifact"] = job.artifact_ref.empty() ? nlohmann::json() : nlohmann::json(job.artifact_ref);
  j["created_at"] = format_time(job.created_at);
  j["updated_at"] = format_time(job.updated_at);
  j["started_at"] = opt_time(job.started_at);
  j["finished_at"] = opt_time(job.finished_at);
  return j;
}

nlohmann::json event_to_json(const JobEvent& e) {
  return {{"seq", e.seq}, {"time", format_time(e.time)}, {"kind", to_string(e.kind)}, {"payload", e.payload}};
}

}  // namespace trellis::api
