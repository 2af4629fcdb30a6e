#include "protocol/messages.h"

#include <cctype>

#include "common/error.h"
#include "common/sha256.h"
#include "protocol/ids.h"
#include "protocol/json_fields.h"

namespace trellis::protocol {

using nlohmann::json;

void throw_invalid(const std::string& what, const std::string& why) {
  throw Error(ErrorCode::invalid, what + ": " + why);
}

namespace {

[[noreturn]] void bad(const std::string& message) { throw Error(ErrorCode::invalid, message); }

// Reply fields: absent or null gives the fallback; present with another type is an error.
int64_t int_or(const json& j, const char* name, int64_t fallback) {
  return optional_int_field(j, name, INT64_MIN, INT64_MAX).value_or(fallback);
}
bool bool_or(const json& j, const char* name, bool fallback) {
  if (!j.contains(name) || j[name].is_null()) return fallback;
  return bool_field(j, name);
}
std::optional<double> optional_number(const json& j, const char* name) {
  if (!j.contains(name) || j[name].is_null()) return std::nullopt;
  if (!j[name].is_number()) bad(std::string("field '") + name + "' must be a number");
  return j[name].get<double>();
}
json object_or_empty(const json& j, const char* name) {
  if (!j.contains(name) || j[name].is_null()) return json::object();
  if (!j[name].is_object()) bad(std::string("field '") + name + "' must be a JSON object");
  return j[name];
}
template <class T>
json or_null(const std::optional<T>& v) {
  return v ? json(*v) : json(nullptr);
}

// The lease id of a worker call: 1 to 64 characters.
std::string lease_id_field(const json& j) {
  std::string lease = string_field(j, "lease_id");
  if (lease.empty() || lease.size() > 64) bad("field 'lease_id' is not a lease id");
  return lease;
}

// Empty (not under Slurm) or a Slurm job id: "123", "123_4" (array), "123+1" (het job).
bool valid_slurm_job_id(const std::string& id) {
  if (id.size() > 64) return false;
  for (char c : id)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != ';' && c != '+' && c != '-')
      return false;
  return true;
}

}  // namespace

void to_json(json& j, const ErrorInfo& v) { j = {{"code", v.code}, {"message", v.message}}; }
void from_json(const json& j, ErrorInfo& v) {
  if (!j.is_object()) bad("an error must be an object {\"code\", \"message\"}");
  v.code = string_field(j, "code");
  v.message = optional_string_field(j, "message").value_or("");
}

void to_json(json& j, const JobMessage& v) {
  j = json::object();
  j["id"] = v.id;
  j["task"] = v.task;
  j["spec"] = v.spec;
  j["backbone"] = v.backbone;
  j["backbone_sha256"] = v.backbone_sha256;
  j["state"] = to_string(v.state);
  j["attempts"] = v.attempts;
  j["max_attempts"] = v.max_attempts;
  j["preemptions"] = v.preemptions;
  j["priority"] = v.priority;
  j["queue_position"] = or_null(v.queue_position);
  j["queue_position_exact"] = or_null(v.queue_position_exact);
  j["cancel_requested"] = v.cancel_requested;
  j["progress"] = {{"step", v.progress.step},
                   {"total_steps", v.progress.total_steps},
                   {"eta_seconds", or_null(v.progress.eta_seconds)}};
  j["metrics"] = v.metrics;
  j["error"] = v.error ? json(*v.error) : json(nullptr);
  j["artifact"] = or_null(v.artifact);
  j["created_at"] = v.created_at;
  j["updated_at"] = v.updated_at;
  j["started_at"] = or_null(v.started_at);
  j["finished_at"] = or_null(v.finished_at);
}

void from_json(const json& j, JobMessage& v) {
  v.id = string_field(j, "id");
  v.task = optional_string_field(j, "task").value_or("");
  v.spec = object_or_empty(j, "spec");
  v.backbone = optional_string_field(j, "backbone").value_or("");
  v.backbone_sha256 = optional_string_field(j, "backbone_sha256").value_or("");
  v.state = parse_job_state(string_field(j, "state"));
  v.attempts = static_cast<int>(int_or(j, "attempts", 0));
  v.max_attempts = static_cast<int>(int_or(j, "max_attempts", 3));
  v.preemptions = static_cast<int>(int_or(j, "preemptions", 0));
  v.priority = static_cast<int>(int_or(j, "priority", 0));
  v.queue_position = optional_int_field(j, "queue_position", 0, INT64_MAX);
  v.queue_position_exact = j.contains("queue_position_exact") && !j["queue_position_exact"].is_null()
                               ? std::optional<bool>(bool_field(j, "queue_position_exact"))
                               : std::nullopt;
  v.cancel_requested = bool_or(j, "cancel_requested", false);
  const json progress = object_or_empty(j, "progress");
  v.progress.step = int_or(progress, "step", 0);
  v.progress.total_steps = int_or(progress, "total_steps", 0);
  v.progress.eta_seconds = optional_number(progress, "eta_seconds");
  v.metrics = object_or_empty(j, "metrics");
  v.error = j.contains("error") && !j["error"].is_null() ? std::optional<ErrorInfo>(j["error"].get<ErrorInfo>())
                                                         : std::nullopt;
  v.artifact = optional_string_field(j, "artifact");
  v.created_at = optional_string_field(j, "created_at").value_or("");
  v.updated_at = optional_string_field(j, "updated_at").value_or("");
  v.started_at = optional_string_field(j, "started_at");
  v.finished_at = optional_string_field(j, "finished_at");
}

void to_json(json& j, const JobPage& v) { j = {{"jobs", v.jobs}, {"next", or_null(v.next)}}; }
void from_json(const json& j, JobPage& v) {
  if (!j.contains("jobs") || !j["jobs"].is_array()) bad("field 'jobs' must be an array of jobs");
  v.jobs = j["jobs"].get<std::vector<JobMessage>>();
  v.next = optional_string_field(j, "next");
  if (v.next && v.next->empty()) v.next.reset();
}

void to_json(json& j, const EventMessage& v) {
  j = {{"seq", v.seq}, {"time", v.time}, {"kind", to_string(v.kind)}, {"payload", v.payload}};
}
void from_json(const json& j, EventMessage& v) {
  if (!j.is_object()) bad("an event must be a JSON object");
  v.seq = int_field(j, "seq", 0, INT64_MAX);
  v.time = optional_string_field(j, "time").value_or("");
  v.kind = parse_event_kind(string_field(j, "kind"));
  v.payload = object_or_empty(j, "payload");
}

void to_json(json& j, const EventPage& v) {
  j = {{"events", v.events}, {"last_seq", v.last_seq}, {"state", to_string(v.state)}};
}
void from_json(const json& j, EventPage& v) {
  if (!j.contains("events") || !j["events"].is_array()) bad("field 'events' must be an array of events");
  v.events = j["events"].get<std::vector<EventMessage>>();
  v.last_seq = int_field(j, "last_seq", 0, INT64_MAX);
  v.state = parse_job_state(string_field(j, "state"));
}

void to_json(json& j, const FileStored& v) { j = {{"id", v.id}, {"bytes", v.bytes}}; }
void from_json(const json& j, FileStored& v) {
  v.id = string_field(j, "id");
  v.bytes = int_or(j, "bytes", 0);
}

void to_json(json& j, const SubmitEnvelope& v) {
  if (!v.priority && !v.max_attempts) {  // the bare spec
    j = v.spec;
    return;
  }
  j = {{"spec", v.spec}};
  if (v.priority) j["priority"] = *v.priority;
  if (v.max_attempts) j["max_attempts"] = *v.max_attempts;
}
void from_json(const json& j, SubmitEnvelope& v) {
  v = SubmitEnvelope{};
  if (!j.contains("spec")) {  // the bare spec
    v.spec = j;
    return;
  }
  only_fields(j, {"spec", "priority", "max_attempts"}, "request body");
  if (!j["spec"].is_object()) bad("field 'spec' must be a JSON object (the job spec)");
  v.spec = j["spec"];
  if (auto p = optional_int_field(j, "priority", -1000, 1000)) v.priority = static_cast<int>(*p);
  if (auto m = optional_int_field(j, "max_attempts", 1, 100)) v.max_attempts = static_cast<int>(*m);
}

void to_json(json& j, const GroupRegistration& v) {
  j = {{"backbone_name", v.backbone_name},
       {"backbone_sha256", v.backbone_sha256},
       {"world_size", v.world_size},
       {"devices", v.devices},
       {"host", v.host}};
  if (v.group_id) j["group_id"] = *v.group_id;
  if (!v.slurm_job_id.empty()) j["slurm_job_id"] = v.slurm_job_id;
}
void from_json(const json& j, GroupRegistration& v) {
  only_fields(j, {"backbone_name", "backbone_sha256", "world_size", "devices", "host", "group_id", "slurm_job_id"},
              "group");
  v.backbone_name = string_field(j, "backbone_name");
  v.backbone_sha256 = string_field(j, "backbone_sha256");
  if (!is_sha256_hex(v.backbone_sha256)) bad("field 'backbone_sha256' must be 64 lowercase hex digits");
  v.world_size = static_cast<int>(int_field(j, "world_size", 1, 1 << 20));
  v.host = optional_string_field(j, "host").value_or("");
  v.slurm_job_id = optional_string_field(j, "slurm_job_id").value_or("");
  if (!valid_slurm_job_id(v.slurm_job_id)) bad("field 'slurm_job_id' must be 1 to 64 characters of [A-Za-z0-9_.;+-]");
  v.devices.clear();
  if (j.contains("devices")) {
    if (!j["devices"].is_array()) bad("field 'devices' must be an array of strings");
    for (const json& d : j["devices"]) {
      if (!d.is_string()) bad("field 'devices' must be an array of strings");
      v.devices.push_back(d.get<std::string>());
    }
  }
  v.group_id = optional_string_field(j, "group_id");
  if (v.group_id && !valid_group_id(*v.group_id)) bad("field 'group_id' must be \"g-\" + 32 hex digits");
}

void to_json(json& j, const GroupRegistered& v) {
  j = {{"group_id", v.group_id},
       {"lease_ttl_ms", v.lease_ttl_ms},
       {"heartbeat_ms", v.heartbeat_ms},
       {"served", v.served}};
}
void from_json(const json& j, GroupRegistered& v) {
  v.group_id = string_field(j, "group_id");
  if (v.group_id.empty()) bad("field 'group_id' is empty");
  v.lease_ttl_ms = int_or(j, "lease_ttl_ms", 30'000);
  v.heartbeat_ms = int_or(j, "heartbeat_ms", 0);
  if (v.heartbeat_ms <= 0) v.heartbeat_ms = std::max<int64_t>(1, v.lease_ttl_ms / 3);
  v.served = bool_or(j, "served", true);
}

void to_json(json& j, const LeaseGrant& v) {
  j = {{"lease_id", v.lease_id}, {"lease_ttl_ms", v.lease_ttl_ms}, {"heartbeat_ms", v.heartbeat_ms}, {"job", v.job}};
}
void from_json(const json& j, LeaseGrant& v) {
  v.lease_id = string_field(j, "lease_id");
  if (v.lease_id.empty()) bad("field 'lease_id' is empty");
  v.lease_ttl_ms = int_or(j, "lease_ttl_ms", 30'000);
  v.heartbeat_ms = int_or(j, "heartbeat_ms", 0);
  if (!j.contains("job") || !j["job"].is_object()) bad("field 'job' must be the job object");
  v.job = j["job"].get<JobMessage>();
}

void to_json(json& j, const Heartbeat& v) {
  j = {{"lease_id", v.lease_id}, {"step", v.step}, {"total_steps", v.total_steps}, {"metrics", v.metrics}};
}
void from_json(const json& j, Heartbeat& v) {
  only_fields(j, {"lease_id", "step", "total_steps", "metrics"}, "heartbeat");
  v.step = optional_int_field(j, "step", 0, INT64_MAX).value_or(0);
  v.total_steps = optional_int_field(j, "total_steps", 0, INT64_MAX).value_or(0);
  v.metrics = j.contains("metrics") ? j["metrics"] : json::object();
  if (!v.metrics.is_object()) bad("field 'metrics' must be a JSON object");
  v.lease_id = lease_id_field(j);
}

void to_json(json& j, const HeartbeatAnswer& v) { j = {{"action", to_string(v.action)}}; }
void from_json(const json& j, HeartbeatAnswer& v) {
  v.action = parse_heartbeat_action(optional_string_field(j, "action").value_or("continue"));
}

void to_json(json& j, const CompleteReport& v) { j = {{"lease_id", v.lease_id}, {"artifact", v.artifact}}; }
void from_json(const json& j, CompleteReport& v) {
  only_fields(j, {"lease_id", "artifact"}, "complete");
  v.artifact = string_field(j, "artifact");
  if (v.artifact.empty() || v.artifact.size() > 200 || v.artifact.find('@') == std::string::npos)
    bad("field 'artifact' must be a registry reference \"task@version\"");
  v.lease_id = lease_id_field(j);
}

void to_json(json& j, const FailReport& v) {
  j = {{"lease_id", v.lease_id}, {"error", v.error}, {"retryable", v.retryable}};
}
void from_json(const json& j, FailReport& v) {
  only_fields(j, {"lease_id", "error", "retryable"}, "fail");
  if (!j.contains("error") || !j["error"].is_object()) bad("field 'error' must be an object {\"code\", \"message\"}");
  v.error = ErrorInfo{string_field(j["error"], "code"), string_field(j["error"], "message")};
  if (v.error.code.empty() || v.error.code.size() > 64) bad("field 'error.code' must be 1 to 64 characters");
  if (v.error.message.size() > 8192) v.error.message.resize(8192);
  v.retryable = bool_field(j, "retryable");
  v.lease_id = lease_id_field(j);
}

void to_json(json& j, const CancelledReport& v) { j = {{"lease_id", v.lease_id}}; }
void from_json(const json& j, CancelledReport& v) {
  only_fields(j, {"lease_id"}, "cancelled");
  v.lease_id = lease_id_field(j);
}

void to_json(json& j, const ErrorReply& v) { j = {{"error", v.error}}; }
void from_json(const json& j, ErrorReply& v) {
  if (!j.contains("error")) bad("field 'error' is missing");
  v.error = j["error"].get<ErrorInfo>();
}

}  // namespace trellis::protocol
