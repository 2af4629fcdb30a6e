#include "coordinator/store/job.h"

#include <random>

#include "common/error.h"

namespace trellis {

std::string to_string(JobState s) {
  switch (s) {
    case JobState::queued: return "queued";
    case JobState::leased: return "leased";
    case JobState::running: return "running";
    case JobState::succeeded: return "succeeded";
    case JobState::failed: return "failed";
    case JobState::cancelled: return "cancelled";
  }
  return "unknown";
}

JobState parse_job_state(const std::string& s) {
  for (auto st : {JobState::queued, JobState::leased, JobState::running, JobState::succeeded,
                  JobState::failed, JobState::cancelled})
    if (to_string(st) == s) return st;
  throw Error(ErrorCode::invalid,
                   "Unknown job state '" + s +
                       "' (expected queued, leased, running, succeeded, failed or cancelled).");
}

std::string to_string(LaunchState s) {
  switch (s) {
    case LaunchState::pending: return "pending";
    case LaunchState::running: return "running";
    case LaunchState::ended: return "ended";
  }
  return "unknown";
}

LaunchState parse_launch_state(const std::string& s) {
  for (auto st : {LaunchState::pending, LaunchState::running, LaunchState::ended})
    if (to_string(st) == s) return st;
  throw Error(ErrorCode::invalid,
                   "Unknown launch state '" + s + "' (expected pending, running or ended).");
}

bool is_terminal(JobState s) {
  return s == JobState::succeeded || s == JobState::failed || s == JobState::cancelled;
}

bool is_live(JobState s) { return s == JobState::leased || s == JobState::running; }

std::string to_string(EventKind k) {
  switch (k) {
    case EventKind::state: return "state";
    case EventKind::progress: return "progress";
    case EventKind::metrics: return "metrics";
    case EventKind::error: return "error";
  }
  return "unknown";
}

EventKind parse_event_kind(const std::string& s) {
  for (auto k : {EventKind::state, EventKind::progress, EventKind::metrics, EventKind::error})
    if (to_string(k) == s) return k;
  throw Error(ErrorCode::invalid, "Unknown event kind '" + s + "'.");
}

Time to_millis(Time t) { return std::chrono::time_point_cast<std::chrono::milliseconds>(t); }

int64_t millis_since_epoch(Time t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

Time from_millis(int64_t ms) { return Time{std::chrono::milliseconds(ms)}; }

std::string new_random_id(const std::string& prefix) {
  // A fresh random_device per call (the OS's CSPRNG): no state to duplicate across fork().
  std::random_device rd;
  static const char* hex = "0123456789abcdef";
  std::string out = prefix;
  for (int w = 0; w < 2; ++w) {
    uint64_t v = (uint64_t{rd()} << 32) | rd();
    for (int i = 0; i < 16; ++i) out += hex[(v >> (60 - 4 * i)) & 0xf];
  }
  return out;
}

namespace {
bool prefixed_hex(const std::string& id, char prefix) {
  if (id.size() != 34 || id[0] != prefix || id[1] != '-') return false;
  for (size_t i = 2; i < id.size(); ++i) {
    const char c = id[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}
}  // namespace

bool valid_job_id(const std::string& id) { return prefixed_hex(id, 'j'); }
bool valid_group_id(const std::string& id) { return prefixed_hex(id, 'g'); }

}  // namespace trellis
