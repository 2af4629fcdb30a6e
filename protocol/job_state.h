#pragma once
// The job states, event kinds and heartbeat actions of the wire protocol (coordinator/api/
// PROTOCOL.md): the one definition the coordinator's store, the worker and the CLI share.
// Pure functions: thread-safe.
#include <string>

namespace trellis {

// queued -> leased -> running -> succeeded | failed | cancelled (coordinator/store/job.h has the
// whole machine, coordinator/store/job_transitions.h its moves).
enum class JobState { queued, leased, running, succeeded, failed, cancelled };
std::string to_string(JobState s);
JobState parse_job_state(const std::string& s);  // throws Error(invalid) naming the value
bool is_terminal(JobState s);                    // succeeded, failed, cancelled
bool is_live(JobState s);                        // leased or running: holds a lease

enum class EventKind { state, progress, metrics, error };
std::string to_string(EventKind k);
EventKind parse_event_kind(const std::string& s);  // throws Error(invalid)

// The error code of a deliberate hand-back in a fail report (the group checkpointed and gave the
// job back): it does not use up an attempt.
inline constexpr const char* kPreempted = "preempted";

// What a heartbeat's answer tells the group: go on ("continue"), or stop because the user cancelled.
enum class HeartbeatAction { proceed, cancel };
std::string to_string(HeartbeatAction a);                      // "continue", "cancel"
HeartbeatAction parse_heartbeat_action(const std::string& s);  // throws Error(invalid)

}  // namespace trellis
