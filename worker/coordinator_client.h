#pragma once
// trellis-worker's side of the coordinator's worker protocol (coordinator/api/PROTOCOL.md,
// "Worker protocol"): typed calls over HttpClient (plain http, blocking, one connection per
// request). No LibTorch here.
// Retries: register_group and lease retry network errors and 5xx with backoff until they get an
// answer or `should_stop` says so (a coordinator that restarts is waited for, never an error);
// complete/fail/cancelled retry for up to `report_deadline`; heartbeat tries once (the next beat
// is the retry); download_file retries network errors a few times.
// Thread-safety: every call builds its own HttpClient, so calls from several threads (the lease
// loop and the heartbeat thread) are safe.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace trellis {

struct CoordinatorClientOptions {
  std::string server;  // http://HOST:PORT
  std::string token;   // bearer token (never printed)
  std::chrono::seconds timeout{30};                        // per step of one request (lease adds its wait)
  std::chrono::seconds report_deadline{120};               // complete/fail/cancelled give up after this
  std::function<bool()> should_stop;                       // ends the endless retries (register, lease)
  std::function<void(const std::string&)> log;             // one line per problem (retries); may be empty
};

struct GroupRegistration {
  std::string group_id;
  int64_t lease_ttl_ms = 0;
  int64_t heartbeat_ms = 0;
};

struct Lease {
  std::string lease_id;
  int64_t lease_ttl_ms = 0;
  nlohmann::json job;  // the job object
};

enum class LeaseStatus { leased, none, unknown_group, stopped };
enum class HeartbeatReply { proceed, cancel, lease_lost, unreachable };
enum class ReportStatus { ok, conflict, gave_up };

class CoordinatorClient {
 public:
  explicit CoordinatorClient(CoordinatorClientOptions options);  // throws trellis::Error for a bad URL

  // POST /v1/groups. Returns nullopt only when should_stop said so. A 4xx is an error (trellis::Error).
  std::optional<GroupRegistration> register_group(const nlohmann::json& body);
  // POST /v1/groups/{group}/lease?wait=S.
  LeaseStatus lease(const std::string& group_id, int wait_s, Lease& lease);
  // POST /v1/jobs/{id}/heartbeat with {lease_id, step, total_steps, metrics}. One try.
  HeartbeatReply heartbeat(const std::string& job_id, const nlohmann::json& body);
  ReportStatus complete(const std::string& job_id, const std::string& lease_id, const std::string& artifact);
  ReportStatus fail(const std::string& job_id, const std::string& lease_id, const std::string& code,
                    const std::string& message, bool retryable);
  ReportStatus cancelled(const std::string& job_id, const std::string& lease_id);
  // GET /v1/files/{sha256} into `file` (verified: written to a temporary file beside it, checked,
  // then renamed). Throws trellis::Error: invalid (not a sha256), not_found (no such file), broken
  // (the downloaded bytes have another sha256): retrying cannot help; io or unavailable otherwise.
  void download_file(const std::string& sha256, const std::filesystem::path& file);

  const std::string& server() const { return options_.server; }

 private:
  ReportStatus report(const std::string& target, const nlohmann::json& body);
  void log(const std::string& line) const;
  bool stopping() const { return options_.should_stop && options_.should_stop(); }
  CoordinatorClientOptions options_;
};

}  // namespace trellis
