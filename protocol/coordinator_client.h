#pragma once
// CoordinatorClient: the one typed client of the coordinator's API (coordinator/api/PROTOCOL.md),
// used by trellis-worker (the worker protocol) and the `trellis` CLI (the job routes). Every
// request and reply is a wire type of protocol/messages.h; no caller reads protocol JSON by hand.
// It talks through a Transport (HTTP in production, the real routes in-process in tests).
//
// Worker calls and their retries: register_group and lease retry network errors and 5xx with
// backoff until they get an answer or `should_stop` says so (a coordinator that restarts is waited
// for, never an error); complete/fail/cancelled retry for up to `report_deadline`; heartbeat tries
// once (the next beat is the retry); download_file retries network errors a few times.
// User calls (upload_file, submit, get_job, list_jobs, cancel_job, events) try once and throw trellis::Error
// "WHAT: STATUS: <the server's message>" with the code of the status (400 invalid, 404 not_found,
// 409 conflict, 5xx unavailable) for an error answer, and Error(unavailable) when unreachable.
// Thread-safety: calls may come from several threads at once (the lease loop and the heartbeat
// thread) when the Transport allows it (HttpTransport does). No LibTorch here.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "common/error.h"
#include "protocol/messages.h"
#include "protocol/transport.h"

namespace trellis::protocol {

struct CoordinatorClientOptions {
  std::string server;                            // http://HOST:PORT (used when no transport is given)
  std::string token;                             // bearer token (never printed)
  std::chrono::seconds timeout{30};              // per step of one request (lease adds its wait)
  std::chrono::seconds report_deadline{120};     // complete/fail/cancelled give up after this
  std::function<bool()> should_stop;             // ends the endless retries (register, lease)
  std::function<void(const std::string&)> log;   // one line per problem (retries); may be empty
  std::chrono::milliseconds first_backoff{500};  // retries wait this, doubling up to 10 s
};

enum class LeaseStatus { leased, none, unknown_group, stopped };
enum class HeartbeatOutcome { proceed, cancel, lease_lost, unreachable };
enum class ReportStatus { ok, conflict, gave_up };

struct JobListQuery {
  std::optional<JobState> state;
  std::optional<std::string> task;
  int limit = 100;
  std::optional<std::string> after;  // cursor: JobPage::next
};

struct SubmitAnswer {
  JobMessage job;
  bool created = true;  // false: the idempotency key named an existing job
};

class CoordinatorClient {
 public:
  // Over HTTP to options.server; throws trellis::Error for a bad URL.
  explicit CoordinatorClient(CoordinatorClientOptions options);
  // Over `transport` (options.server and options.token unused).
  CoordinatorClient(CoordinatorClientOptions options, std::shared_ptr<Transport> transport);

  // --- the worker protocol ---
  // POST /v1/groups. nullopt only when should_stop said so. A 4xx is an error (trellis::Error).
  std::optional<GroupRegistered> register_group(const GroupRegistration& registration);
  // POST /v1/groups/{group}/lease?wait=S.
  LeaseStatus lease(const std::string& group_id, int wait_s, LeaseGrant& lease);
  // POST /v1/jobs/{id}/heartbeat. One try.
  HeartbeatOutcome heartbeat(const std::string& job_id, const Heartbeat& beat);
  ReportStatus complete(const std::string& job_id, const CompleteReport& report);
  ReportStatus fail(const std::string& job_id, const FailReport& report);
  ReportStatus cancelled(const std::string& job_id, const CancelledReport& report);
  // GET /v1/files/{sha256} into `file` (verified: written to a temporary file beside it, checked,
  // then renamed). Throws trellis::Error: invalid (not a sha256), not_found (no such file), broken
  // (the downloaded bytes have another sha256): retrying cannot help; io or unavailable otherwise.
  void download_file(const std::string& sha256, const std::filesystem::path& file);

  // --- the job routes (users) ---
  // POST /v1/files with `bytes` (`name`, when not empty, as X-Trellis-File-Name).
  FileStored upload_file(const std::string& bytes, const std::string& name);
  SubmitAnswer submit(const SubmitEnvelope& envelope, const std::optional<std::string>& idempotency_key = {});
  JobMessage get_job(const std::string& job_id);
  JobPage list_jobs(const JobListQuery& query);
  JobMessage cancel_job(const std::string& job_id);
  // GET /v1/jobs/{id}/events?after=A[&wait=W]: with `wait_s`, waits up to that long for events
  // after `after` (a long-poll); without, answers at once.
  EventPage events(const std::string& job_id, int64_t after, std::optional<double> wait_s = std::nullopt);

  const std::string& server() const { return server_; }

 private:
  ReportStatus report(const std::string& target, const nlohmann::json& body);
  // POSTs until the coordinator gives an answer that is not transient (5xx, 429, 408, a network
  // error), with backoff between tries, and returns answer(reply); nullopt once should_stop says so.
  // An exception from `answer` is retried too, except a final refusal (Fatal).
  template <class R>
  std::optional<R> until_answered(const std::string& what, const std::string& target, const std::string& body,
                                  std::chrono::milliseconds timeout,
                                  const std::function<R(const http::ClientReply&)>& answer);
  http::ClientReply send(TransportRequest::Method method, const std::string& target, const std::string& body,
                         std::chrono::milliseconds timeout, const std::map<std::string, std::string>& headers = {});
  // One user call: the reply parsed as T when its status is one of `ok`, else the error above.
  template <class T>
  T call(const std::string& what, TransportRequest::Method method, const std::string& target, const std::string& body,
         std::initializer_list<unsigned> ok, std::chrono::milliseconds timeout,
         const std::map<std::string, std::string>& headers = {}, unsigned* status = nullptr);
  void log(const std::string& line) const;
  bool stopping() const { return options_.should_stop && options_.should_stop(); }
  CoordinatorClientOptions options_;
  std::shared_ptr<Transport> transport_;
  std::string server_;
};

// The message of an error answer ({"error": {"message"}}), else its raw body, trimmed.
std::string error_message_of(const http::ClientReply& reply);
// The error code a status stands for (400 invalid, 404 not_found, 409 conflict, 5xx/429/408
// unavailable, else internal).
ErrorCode error_code_of_status(unsigned status);

}  // namespace trellis::protocol
