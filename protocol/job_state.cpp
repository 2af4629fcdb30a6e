#include "protocol/job_state.h"

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
  for (auto st : {JobState::queued, JobState::leased, JobState::running, JobState::succeeded, JobState::failed,
                  JobState::cancelled})
    if (to_string(st) == s) return st;
  throw Error(ErrorCode::invalid,
              "Unknown job state '" + s + "' (expected queued, leased, running, succeeded, failed or cancelled).");
}

bool is_terminal(JobState s) { return s == JobState::succeeded || s == JobState::failed || s == JobState::cancelled; }

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

std::string to_string(HeartbeatAction a) { return a == HeartbeatAction::cancel ? "cancel" : "continue"; }

HeartbeatAction parse_heartbeat_action(const std::string& s) {
  if (s == "continue") return HeartbeatAction::proceed;
  if (s == "cancel") return HeartbeatAction::cancel;
  throw Error(ErrorCode::invalid, "Unknown heartbeat action '" + s.substr(0, 64) + "' (expected continue or cancel).");
}

}  // namespace trellis
