#pragma once
// The wire types of the coordinator's API (coordinator/api/PROTOCOL.md) as C++ structs, each with
// one to_json and one from_json (nlohmann's ADL pair: j.get<T>() and json(t) work). The server's
// routes, the worker, the CLI and the test fake all read and write protocol JSON only through these.
//
// Reading rules:
//  - Requests (what a client sends and the server reads: SubmitEnvelope, GroupRegistration,
//    Heartbeat, CompleteReport, FailReport, CancelledReport) are strict: an unknown field, a
//    wrong type or a value out of range is Error(invalid) naming the field (a 400 at the server).
//  - Replies (what the server sends and clients read: JobMessage, JobPage, EventMessage, EventPage,
//    FileStored, GroupRegistered, LeaseGrant, HeartbeatAnswer, ErrorReply) accept unknown fields (a newer
//    server may add some) but not a wrong type or a missing required field (Error(invalid) naming it).
// The job spec travels as its JSON (trainer/spec/job_spec.h reads it), so this layer has no ML.
// Plain values: copy freely; functions are pure and thread-safe.
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "protocol/job_state.h"

namespace trellis::protocol {

// {"code", "message"}: a job's last error, a fail report's error, every error reply's body.
struct ErrorInfo {
  std::string code;
  std::string message;
  friend bool operator==(const ErrorInfo&, const ErrorInfo&) = default;
};

struct JobProgress {
  int64_t step = 0;
  int64_t total_steps = 0;            // 0: not known yet
  std::optional<double> eta_seconds;  // null when unknown
  friend bool operator==(const JobProgress&, const JobProgress&) = default;
};

// The job object: GET /v1/jobs/{id}, every job route's answer, the job of a lease.
struct JobMessage {
  std::string id;
  std::string task;
  nlohmann::json spec = nlohmann::json::object();  // the canonical job spec
  std::string backbone;
  std::string backbone_sha256;
  JobState state = JobState::queued;
  int attempts = 0;
  int max_attempts = 3;
  int preemptions = 0;
  int priority = 0;
  std::optional<int64_t> queue_position;     // queued jobs only
  std::optional<bool> queue_position_exact;  // false: "queue_position or more"
  bool cancel_requested = false;
  JobProgress progress;
  nlohmann::json metrics = nlohmann::json::object();  // the latest metrics the group reported
  std::optional<ErrorInfo> error;
  std::optional<std::string> artifact;  // "task@N" once succeeded
  std::string created_at;               // RFC 3339, milliseconds, UTC
  std::string updated_at;
  std::optional<std::string> started_at;
  std::optional<std::string> finished_at;
  friend bool operator==(const JobMessage&, const JobMessage&) = default;
};

// GET /v1/jobs: a page; `next` is the cursor of the next page (absent on the last).
struct JobPage {
  std::vector<JobMessage> jobs;
  std::optional<std::string> next;
};

struct EventMessage {
  int64_t seq = 0;
  std::string time;
  EventKind kind = EventKind::state;
  nlohmann::json payload = nlohmann::json::object();  // by kind (PROTOCOL.md)
  friend bool operator==(const EventMessage&, const EventMessage&) = default;
};

// GET /v1/jobs/{id}/events: the events after the cursor, the new cursor and the job's state.
struct EventPage {
  std::vector<EventMessage> events;
  int64_t last_seq = 0;
  JobState state = JobState::queued;
};

// POST /v1/files: the stored upload (201 new, 200 already stored). `id` is its sha256.
struct FileStored {
  std::string id;
  int64_t bytes = 0;
  friend bool operator==(const FileStored&, const FileStored&) = default;
};

// POST /v1/jobs: the bare spec, or the envelope {"spec", "priority", "max_attempts"} (written only
// when priority or max_attempts is set).
struct SubmitEnvelope {
  nlohmann::json spec = nlohmann::json::object();
  std::optional<int> priority;      // -1000..1000
  std::optional<int> max_attempts;  // 1..100
};

// POST /v1/groups.
struct GroupRegistration {
  std::string backbone_name;
  std::string backbone_sha256;  // 64 lowercase hex digits
  int world_size = 1;
  std::vector<std::string> devices;
  std::string host;
  std::optional<std::string> group_id;  // re-registering: "g-" + 32 hex digits
  std::string slurm_job_id;             // "" when not under Slurm
  friend bool operator==(const GroupRegistration&, const GroupRegistration&) = default;
};

struct GroupRegistered {
  std::string group_id;
  int64_t lease_ttl_ms = 30'000;
  int64_t heartbeat_ms = 0;  // 0 in a reply: a third of the lease TTL
  bool served = true;        // the coordinator serves this backbone (by name and sha256)
  friend bool operator==(const GroupRegistered&, const GroupRegistered&) = default;
};

// POST /v1/groups/{group}/lease: 200 with a lease, or 204 (nothing to lease).
struct LeaseGrant {
  std::string lease_id;
  int64_t lease_ttl_ms = 30'000;
  int64_t heartbeat_ms = 0;
  JobMessage job;
  friend bool operator==(const LeaseGrant&, const LeaseGrant&) = default;
};

// POST /v1/jobs/{id}/heartbeat and its answer.
struct Heartbeat {
  std::string lease_id;
  int64_t step = 0;
  int64_t total_steps = 0;
  nlohmann::json metrics = nlohmann::json::object();
  friend bool operator==(const Heartbeat&, const Heartbeat&) = default;
};

struct HeartbeatAnswer {
  HeartbeatAction action = HeartbeatAction::proceed;
};

// POST /v1/jobs/{id}/complete, /fail, /cancelled (each answered with the job).
struct CompleteReport {
  std::string lease_id;
  std::string artifact;  // "task@N", the version the job published
};

struct FailReport {
  std::string lease_id;
  ErrorInfo error;  // code 1..64 characters; a longer message is cut to 8192 bytes
  bool retryable = false;
};

struct CancelledReport {
  std::string lease_id;
};

// The body of every error answer: {"error": {"code", "message"}}.
struct ErrorReply {
  ErrorInfo error;
};

void to_json(nlohmann::json& j, const ErrorInfo& v);
void from_json(const nlohmann::json& j, ErrorInfo& v);
void to_json(nlohmann::json& j, const JobMessage& v);
void from_json(const nlohmann::json& j, JobMessage& v);
void to_json(nlohmann::json& j, const JobPage& v);
void from_json(const nlohmann::json& j, JobPage& v);
void to_json(nlohmann::json& j, const EventMessage& v);
void from_json(const nlohmann::json& j, EventMessage& v);
void to_json(nlohmann::json& j, const EventPage& v);
void from_json(const nlohmann::json& j, EventPage& v);
void to_json(nlohmann::json& j, const FileStored& v);
void from_json(const nlohmann::json& j, FileStored& v);
void to_json(nlohmann::json& j, const SubmitEnvelope& v);
void from_json(const nlohmann::json& j, SubmitEnvelope& v);
void to_json(nlohmann::json& j, const GroupRegistration& v);
void from_json(const nlohmann::json& j, GroupRegistration& v);
void to_json(nlohmann::json& j, const GroupRegistered& v);
void from_json(const nlohmann::json& j, GroupRegistered& v);
void to_json(nlohmann::json& j, const LeaseGrant& v);
void from_json(const nlohmann::json& j, LeaseGrant& v);
void to_json(nlohmann::json& j, const Heartbeat& v);
void from_json(const nlohmann::json& j, Heartbeat& v);
void to_json(nlohmann::json& j, const HeartbeatAnswer& v);
void from_json(const nlohmann::json& j, HeartbeatAnswer& v);
void to_json(nlohmann::json& j, const CompleteReport& v);
void from_json(const nlohmann::json& j, CompleteReport& v);
void to_json(nlohmann::json& j, const FailReport& v);
void from_json(const nlohmann::json& j, FailReport& v);
void to_json(nlohmann::json& j, const CancelledReport& v);
void from_json(const nlohmann::json& j, CancelledReport& v);
void to_json(nlohmann::json& j, const ErrorReply& v);
void from_json(const nlohmann::json& j, ErrorReply& v);

// Throws Error(invalid, "<what>: <why>").
[[noreturn]] void throw_invalid(const std::string& what, const std::string& why);

// `what` names the message in errors: parse<LeaseGrant>(body, "lease reply"). Throws Error(invalid)
// "<what>: ..." for a body that is not an object or does not read as T.
template <class T>
T parse_message(const nlohmann::json& j, const std::string& what) {
  try {
    if (!j.is_object()) throw std::invalid_argument("expected a JSON object");
    return j.get<T>();
  } catch (const std::exception& e) {
    throw_invalid(what, e.what());
  }
}
}  // namespace trellis::protocol
