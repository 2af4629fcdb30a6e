#include "protocol/coordinator_client.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <thread>

#include "common/sha256.h"

namespace trellis::protocol {

namespace {

using namespace std::chrono_literals;
using Method = TransportRequest::Method;

// An answer that retrying will not change (a 4xx other than 404 on lease).
struct Fatal : Error {
  using Error::Error;
};

bool transient(unsigned status) { return status >= 500 || status == 429 || status == 408; }

std::string describe(const http::ClientReply& reply) {
  return "HTTP " + std::to_string(reply.status) + ": " + error_message_of(reply);
}

template <class T>
T parse_reply(const http::ClientReply& reply, const std::string& what) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(reply.body);
  } catch (const std::exception& e) {
    throw Error(ErrorCode::unavailable, what + ": the coordinator's reply is not JSON: " + e.what());
  }
  return parse_message<T>(j, what + ": the coordinator's reply");
}

}  // namespace

std::string error_message_of(const http::ClientReply& reply) {
  std::string message = http::HttpClient::error_message(reply);
  while (!message.empty() && std::isspace(static_cast<unsigned char>(message.back()))) message.pop_back();
  return message.empty() ? "(no message)" : message;
}

ErrorCode error_code_of_status(unsigned status) {
  if (status == 400 || status == 413 || status == 422) return ErrorCode::invalid;
  if (status == 404) return ErrorCode::not_found;
  if (status == 409) return ErrorCode::conflict;
  if (transient(status)) return ErrorCode::unavailable;
  return ErrorCode::internal;
}

CoordinatorClient::CoordinatorClient(CoordinatorClientOptions options)
    : options_(std::move(options)),
      transport_(std::make_shared<HttpTransport>(options_.server, options_.token)),
      server_(options_.server) {}

CoordinatorClient::CoordinatorClient(CoordinatorClientOptions options, std::shared_ptr<Transport> transport)
    : options_(std::move(options)), transport_(std::move(transport)), server_(transport_->name()) {}

void CoordinatorClient::log(const std::string& line) const {
  if (options_.log) options_.log(line);
}

http::ClientReply CoordinatorClient::send(Method method, const std::string& target, const std::string& body,
                                          std::chrono::milliseconds timeout,
                                          const std::map<std::string, std::string>& headers) {
  return transport_->send(TransportRequest{method, target, body, headers, timeout});
}

template <class T>
T CoordinatorClient::call(const std::string& what, Method method, const std::string& target, const std::string& body,
                          std::initializer_list<unsigned> ok, std::chrono::milliseconds timeout,
                          const std::map<std::string, std::string>& headers, unsigned* status) {
  http::ClientReply reply;
  try {
    reply = send(method, target, body, timeout, headers);
  } catch (const Error& e) {
    throw Error(ErrorCode::unavailable, what + ": " + e.what());
  } catch (const std::exception& e) {
    throw Error(ErrorCode::unavailable, what + ": " + server_ + ": " + e.what());
  }
  if (std::find(ok.begin(), ok.end(), reply.status) == ok.end())
    throw Error(error_code_of_status(reply.status),
                what + ": " + std::to_string(reply.status) + ": " + error_message_of(reply));
  if (status) *status = reply.status;
  return parse_reply<T>(reply, what);
}

namespace {

// Sleeps `d` in short slices; false when `stop` said so meanwhile.
bool backoff_sleep(std::chrono::milliseconds d, const std::function<bool()>& stop) {
  const auto until = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < until) {
    if (stop && stop()) return false;
    std::this_thread::sleep_for(
        std::min<std::chrono::steady_clock::duration>(100ms, until - std::chrono::steady_clock::now()));
  }
  return !(stop && stop());
}

std::chrono::milliseconds next_backoff(std::chrono::milliseconds d) {
  return std::min<std::chrono::milliseconds>(d * 2, 10s);
}

}  // namespace

template <class R>
std::optional<R> CoordinatorClient::until_answered(const std::string& what, const std::string& target,
                                                   const std::string& body, std::chrono::milliseconds timeout,
                                                   const std::function<R(const http::ClientReply&)>& answer) {
  std::chrono::milliseconds delay = options_.first_backoff;
  for (;;) {
    if (stopping()) return std::nullopt;
    std::string problem;
    try {
      const auto reply = send(Method::post, target, body, timeout);
      if (!transient(reply.status)) return answer(reply);
      problem = describe(reply);
    } catch (const Fatal&) {
      throw;
    } catch (const std::exception& e) {
      problem = e.what();
    }
    log(what + ": " + problem + "; retrying in " + std::to_string(delay.count()) + " ms");
    if (!backoff_sleep(delay, options_.should_stop)) return std::nullopt;
    delay = next_backoff(delay);
  }
}

std::optional<GroupRegistered> CoordinatorClient::register_group(const GroupRegistration& registration) {
  return until_answered<GroupRegistered>("register", "/v1/groups", nlohmann::json(registration).dump(),
                                         options_.timeout, [this](const http::ClientReply& reply) {
                                           if (reply.status != 200 && reply.status != 201)
                                             throw Fatal("register with " + server_ + ": " + describe(reply));
                                           return parse_reply<GroupRegistered>(reply, "register");
                                         });
}

LeaseStatus CoordinatorClient::lease(const std::string& group_id, int wait_s, LeaseGrant& lease) {
  const auto status =
      until_answered<LeaseStatus>("lease", "/v1/groups/" + group_id + "/lease?wait=" + std::to_string(wait_s), "",
                                  options_.timeout + std::chrono::seconds(wait_s), [&](const http::ClientReply& reply) {
                                    if (reply.status == 204) return LeaseStatus::none;
                                    if (reply.status == 404) return LeaseStatus::unknown_group;
                                    if (reply.status != 200)
                                      throw Fatal("lease from " + server_ + ": " + describe(reply));
                                    lease = parse_reply<LeaseGrant>(reply, "lease");
                                    return LeaseStatus::leased;
                                  });
  return status.value_or(LeaseStatus::stopped);
}

HeartbeatOutcome CoordinatorClient::heartbeat(const std::string& job_id, const Heartbeat& beat) {
  try {
    // A beat that hangs delays the next one (and the job's end): a shorter bound than other calls.
    const auto reply = send(Method::post, "/v1/jobs/" + job_id + "/heartbeat", nlohmann::json(beat).dump(),
                            std::min<std::chrono::milliseconds>(options_.timeout, 10s));
    if (reply.status == 409 || reply.status == 404) return HeartbeatOutcome::lease_lost;
    if (reply.status != 200) {
      log("heartbeat " + job_id + ": " + describe(reply));
      return HeartbeatOutcome::unreachable;
    }
    const auto answer = parse_reply<HeartbeatAnswer>(reply, "heartbeat");
    return answer.action == HeartbeatAction::cancel ? HeartbeatOutcome::cancel : HeartbeatOutcome::proceed;
  } catch (const std::exception& e) {
    log("heartbeat " + job_id + ": " + e.what());
    return HeartbeatOutcome::unreachable;
  }
}

ReportStatus CoordinatorClient::report(const std::string& target, const nlohmann::json& body) {
  const auto deadline = std::chrono::steady_clock::now() + options_.report_deadline;
  std::chrono::milliseconds delay = options_.first_backoff;
  for (;;) {
    std::string problem;
    try {
      const auto reply = send(Method::post, target, body.dump(), options_.timeout);
      if (reply.status >= 200 && reply.status < 300) return ReportStatus::ok;
      if (reply.status == 409) return ReportStatus::conflict;
      problem = describe(reply);
      if (!transient(reply.status)) {
        log(target + ": " + problem);
        return ReportStatus::gave_up;
      }
    } catch (const std::exception& e) {
      problem = e.what();
    }
    if (std::chrono::steady_clock::now() + delay > deadline) {
      log(target + ": " + problem + "; giving up");
      return ReportStatus::gave_up;
    }
    log(target + ": " + problem + "; retrying in " + std::to_string(delay.count()) + " ms");
    std::this_thread::sleep_for(delay);
    delay = next_backoff(delay);
  }
}

ReportStatus CoordinatorClient::complete(const std::string& job_id, const CompleteReport& r) {
  return report("/v1/jobs/" + job_id + "/complete", r);
}

ReportStatus CoordinatorClient::fail(const std::string& job_id, const FailReport& r) {
  return report("/v1/jobs/" + job_id + "/fail", r);
}

ReportStatus CoordinatorClient::cancelled(const std::string& job_id, const CancelledReport& r) {
  return report("/v1/jobs/" + job_id + "/cancelled", r);
}

FileStored CoordinatorClient::upload_file(const std::string& bytes, const std::string& name) {
  std::map<std::string, std::string> headers{{"Content-Type", "application/octet-stream"}};
  if (!name.empty()) headers["X-Trellis-File-Name"] = name;
  // An upload may be large: the per-step timeout applies to each read and write, not the whole.
  return call<FileStored>("POST /v1/files", Method::post, "/v1/files", bytes, {200, 201}, options_.timeout, headers);
}

SubmitAnswer CoordinatorClient::submit(const SubmitEnvelope& envelope,
                                       const std::optional<std::string>& idempotency_key) {
  std::map<std::string, std::string> headers;
  if (idempotency_key) headers["Idempotency-Key"] = *idempotency_key;
  unsigned status = 0;
  SubmitAnswer answer;
  answer.job = call<JobMessage>("POST /v1/jobs", Method::post, "/v1/jobs", nlohmann::json(envelope).dump(), {200, 201},
                                options_.timeout, headers, &status);
  answer.created = status == 201;
  return answer;
}

JobMessage CoordinatorClient::get_job(const std::string& job_id) {
  return call<JobMessage>("GET /v1/jobs/" + job_id, Method::get, "/v1/jobs/" + job_id, "", {200}, options_.timeout);
}

JobPage CoordinatorClient::list_jobs(const JobListQuery& query) {
  std::string target = "/v1/jobs?limit=" + std::to_string(query.limit);
  if (query.state) target += "&state=" + to_string(*query.state);
  if (query.task) target += "&task=" + *query.task;  // [a-z0-9._-]: nothing to encode
  if (query.after) target += "&after=" + *query.after;
  return call<JobPage>("GET /v1/jobs", Method::get, target, "", {200}, options_.timeout);
}

JobMessage CoordinatorClient::cancel_job(const std::string& job_id) {
  const std::string target = "/v1/jobs/" + job_id + "/cancel";
  return call<JobMessage>("POST " + target, Method::post, target, "", {200}, options_.timeout);
}

EventPage CoordinatorClient::events(const std::string& job_id, int64_t after, std::optional<double> wait_s) {
  std::string target = "/v1/jobs/" + job_id + "/events?after=" + std::to_string(after);
  auto timeout = std::chrono::milliseconds(options_.timeout);
  if (wait_s) {
    char wait[32];
    std::snprintf(wait, sizeof wait, "%g", std::max(0.0, *wait_s));
    target += std::string("&wait=") + wait;
    timeout += std::chrono::milliseconds(static_cast<int64_t>(std::ceil(std::max(0.0, *wait_s) * 1000)));
  }
  return call<EventPage>("GET /v1/jobs/" + job_id + "/events", Method::get, target, "", {200}, timeout);
}

void CoordinatorClient::download_file(const std::string& sha256, const std::filesystem::path& file) {
  if (!is_sha256_hex(sha256)) throw Error(ErrorCode::invalid, "file:" + sha256 + ": not a sha256 file id");
  std::error_code ec;
  std::filesystem::create_directories(file.parent_path(), ec);
  if (ec) throw Error(ErrorCode::io, file.parent_path().string() + ": cannot create the data cache: " + ec.message());
  const auto temp = file.parent_path() / (file.filename().string() + ".part-" + std::to_string(::getpid()));
  std::chrono::milliseconds delay = options_.first_backoff;
  std::string problem;
  for (int attempt = 0; attempt < 6; ++attempt) {
    if (attempt > 0) {
      log("download " + sha256 + ": " + problem + "; retrying in " + std::to_string(delay.count()) + " ms");
      std::this_thread::sleep_for(delay);
      delay = next_backoff(delay);
    }
    http::ClientReply reply;
    try {
      reply = transport_->get_to_file("/v1/files/" + sha256, temp, options_.timeout);
    } catch (const std::exception& e) {  // the network (HttpClient throws trellis::Error): retried
      std::filesystem::remove(temp, ec);
      problem = e.what();
      continue;
    }
    if (reply.status != 200) {
      std::filesystem::remove(temp, ec);
      problem = describe(reply);
      if (transient(reply.status)) continue;
      throw Error(reply.status == 404 ? ErrorCode::not_found : ErrorCode::invalid, "file:" + sha256 + ": " + problem);
    }
    std::string got;
    try {
      got = sha256_file_hex(temp);
    } catch (const std::exception& e) {
      std::filesystem::remove(temp, ec);
      throw Error(ErrorCode::io, file.string() + ": cannot read the download: " + e.what());
    }
    if (got != sha256) {
      std::filesystem::remove(temp, ec);
      throw Error(ErrorCode::broken, "file:" + sha256 + ": the downloaded bytes have sha256 " + got);
    }
    std::filesystem::rename(temp, file, ec);
    if (ec) {
      std::filesystem::remove(temp, ec);
      throw Error(ErrorCode::io, file.string() + ": cannot store the download: " + ec.message());
    }
    return;
  }
  throw Error(ErrorCode::unavailable, "file:" + sha256 + ": " + problem);
}

}  // namespace trellis::protocol
