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

protocol::JobMessage job_message(const Job& job, std::optional<int64_t> queue_position) {
  protocol::JobMessage m;
  m.id = job.id;
  m.task = job.spec.task;
  m.spec = to_json(job.spec);
  m.backbone = job.spec.backbone;
  m.backbone_sha256 = job.backbone_sha256;
  m.state = job.state;
  m.attempts = job.attempts;
  m.max_attempts = job.max_attempts;
  m.preemptions = job.preemptions;
  m.priority = job.priority;
  m.queue_position = queue_position;
  // Counting stops at the cap: a position at the cap means "that many or more".
  if (queue_position) m.queue_position_exact = *queue_position < JobStore::kQueuePositionCap;
  m.cancel_requested = job.cancel_requested;
  m.progress = {job.step, job.total_steps, eta_seconds(job)};
  m.metrics = job.metrics;
  if (job.error) m.error = protocol::ErrorInfo{job.error->code, job.error->message};
  if (!job.artifact_ref.empty()) m.artifact = job.artifact_ref;
  m.created_at = format_time(job.created_at);
  m.updated_at = format_time(job.updated_at);
  if (job.started_at) m.started_at = format_time(*job.started_at);
  if (job.finished_at) m.finished_at = format_time(*job.finished_at);
  return m;
}

protocol::EventMessage event_message(const JobEvent& e) {
  return {.seq = e.seq, .time = format_time(e.time), .kind = e.kind, .payload = e.payload};
}

}  // namespace trellis::api
