#include "worker/coordinator_client.h"

#include <unistd.h>

#include <algorithm>
#include <thread>

#include "protocol/http_client.h"
#include "common/sha256.h"
#include "trainer/spec/data_reference.h"
#include "common/error.h"

namespace trellis {

namespace {

using namespace std::chrono_literals;

// An answer that retrying will not change (a 4xx other than 404 on lease).
struct Fatal : Error {
  using Error::Error;
};

bool transient(unsigned status) { return status >= 500 || status == 429 || status == 408; }

std::string describe(const http::ClientReply& reply) {
  return "HTTP " + std::to_string(reply.status) + ": " + http::HttpClient::error_message(reply);
}

nlohmann::json parse_body(const http::ClientReply& reply, const std::string& what) {
  try {
    return nlohmann::json::parse(reply.body);
  } catch (const std::exception& e) {
    throw Error(what + ": the coordinator's reply is not JSON: " + e.what());
  }
}

int64_t int_field(const nlohmann::json& j, const char* name, int64_t fallback) {
  auto it = j.find(name);
  return it != j.end() && it->is_number_integer() ? it->get<int64_t>() : fallback;
}

}  // namespace

CoordinatorClient::CoordinatorClient(CoordinatorClientOptions options) : options_(std::move(options)) {
  http::HttpClient probe({.server = options_.server, .token = options_.token});  // validates the URL
}

void CoordinatorClient::log(const std::string& line) const {
  if (options_.log) options_.log(line);
}

namespace {

// Sleeps `d` in short slices; false when `stop` said so meanwhile.
bool backoff_sleep(std::chrono::milliseconds d, const std::function<bool()>& stop) {
  const auto until = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < until) {
    if (stop && stop()) return false;
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(100ms, until - std::chrono::steady_clock::now()));
  }
  return !(stop && stop());
}

std::chrono::milliseconds next_backoff(std::chrono::milliseconds d) { return std::min<std::chrono::milliseconds>(d * 2, 10s); }

}  // namespace

std::optional<GroupRegistration> CoordinatorClient::register_group(const nlohmann::json& body) {
  std::chrono::milliseconds delay = 500ms;
  for (;;) {
    if (stopping()) return std::nullopt;
    std::string problem;
    try {
      http::HttpClient client({.server = options_.server, .token = options_.token, .timeout = options_.timeout});
      const auto reply = client.post("/v1/groups", body.dump());
      if (reply.status == 200 || reply.status == 201) {
        const auto j = parse_body(reply, "register");
        GroupRegistration r;
        r.group_id = j.value("group_id", "");
        if (r.group_id.empty()) throw Error("register: the coordinator's reply has no group_id");
        r.lease_ttl_ms = int_field(j, "lease_ttl_ms", 30000);
        r.heartbeat_ms = int_field(j, "heartbeat_ms", 0);
        if (r.heartbeat_ms <= 0) r.heartbeat_ms = std::max<int64_t>(1, r.lease_ttl_ms / 3);
        return r;
      }
      if (!transient(reply.status)) throw Fatal("register with " + options_.server + ": " + describe(reply));
      problem = describe(reply);
    } catch (const Fatal&) {
      throw;
    } catch (const std::exception& e) {
      problem = e.what();
    }
    log("register: " + problem + "; retrying in " + std::to_string(delay.count()) + " ms");
    if (!backoff_sleep(delay, options_.should_stop)) return std::nullopt;
    delay = next_backoff(delay);
  }
}

LeaseStatus CoordinatorClient::lease(const std::string& group_id, int wait_s, Lease& lease) {
  std::chrono::milliseconds delay = 500ms;
  for (;;) {
    if (stopping()) return LeaseStatus::stopped;
    std::string problem;
    try {
      http::HttpClient client({.server = options_.server, .token = options_.token,
                               .timeout = options_.timeout + std::chrono::seconds(wait_s)});
      const auto reply = client.post("/v1/groups/" + group_id + "/lease?wait=" + std::to_string(wait_s), "");
      if (reply.status == 204) return LeaseStatus::none;
      if (reply.status == 404) return LeaseStatus::unknown_group;
      if (reply.status == 200) {
        const auto j = parse_body(reply, "lease");
        lease.lease_id = j.value("lease_id", "");
        lease.lease_ttl_ms = int_field(j, "lease_ttl_ms", 30000);
        lease.job = j.value("job", nlohmann::json::object());
        if (lease.lease_id.empty() || !lease.job.is_object() || !lease.job.contains("id"))
          throw Error("lease: the coordinator's reply has no lease_id or job");
        return LeaseStatus::leased;
      }
      if (!transient(reply.status)) throw Fatal("lease from " + options_.server + ": " + describe(reply));
      problem = describe(reply);
    } catch (const Fatal&) {
      throw;
    } catch (const std::exception& e) {
      problem = e.what();
    }
    log("lease: " + problem + "; retrying in " + std::to_string(delay.count()) + " ms");
    if (!backoff_sleep(delay, options_.should_stop)) return LeaseStatus::stopped;
    delay = next_backoff(delay);
  }
}

HeartbeatReply CoordinatorClient::heartbeat(const std::string& job_id, const nlohmann::json& body) {
  try {
    // A beat that hangs delays the next one (and the job's end): a shorter bound than other calls.
    http::HttpClient client({.server = options_.server, .token = options_.token,
                             .timeout = std::min<std::chrono::seconds>(options_.timeout, 10s)});
    const auto reply = client.post("/v1/jobs/" + job_id + "/heartbeat", body.dump());
    if (reply.status == 409 || reply.status == 404) return HeartbeatReply::lease_lost;
    if (reply.status != 200) {
      log("heartbeat " + job_id + ": " + describe(reply));
      return HeartbeatReply::unreachable;
    }
    const auto j = nlohmann::json::parse(reply.body, nullptr, false);
    if (j.is_object() && j.value("action", "") == "cancel") return HeartbeatReply::cancel;
    return HeartbeatReply::proceed;
  } catch (const std::exception& e) {
    log("heartbeat " + job_id + ": " + e.what());
    return HeartbeatReply::unreachable;
  }
}

ReportStatus CoordinatorClient::report(const std::string& target, const nlohmann::json& body) {
  const auto deadline = std::chrono::steady_clock::now() + options_.report_deadline;
  std::chrono::milliseconds delay = 500ms;
  for (;;) {
    std::string problem;
    try {
      http::HttpClient client({.server = options_.server, .token = options_.token, .timeout = options_.timeout});
      const auto reply = client.post(target, body.dump());
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

ReportStatus CoordinatorClient::complete(const std::string& job_id, const std::string& lease_id,
                                         const std::string& artifact) {
  return report("/v1/jobs/" + job_id + "/complete", {{"lease_id", lease_id}, {"artifact", artifact}});
}

ReportStatus CoordinatorClient::fail(const std::string& job_id, const std::string& lease_id, const std::string& code,
                                     const std::string& message, bool retryable) {
  return report("/v1/jobs/" + job_id + "/fail",
                {{"lease_id", lease_id}, {"error", {{"code", code}, {"message", message}}}, {"retryable", retryable}});
}

ReportStatus CoordinatorClient::cancelled(const std::string& job_id, const std::string& lease_id) {
  return report("/v1/jobs/" + job_id + "/cancelled", {{"lease_id", lease_id}});
}

void CoordinatorClient::download_file(const std::string& sha256, const std::filesystem::path& file) {
  if (!is_sha256_hex(sha256)) throw Error(ErrorCode::invalid, "file:" + sha256 + ": not a sha256 file id");
  std::error_code ec;
  std::filesystem::create_directories(file.parent_path(), ec);
  if (ec) throw Error(ErrorCode::io, file.parent_path().string() + ": cannot create the data cache: " + ec.message());
  const auto temp = file.parent_path() / (file.filename().string() + ".part-" + std::to_string(::getpid()));
  std::chrono::milliseconds delay = 500ms;
  std::string problem;
  for (int attempt = 0; attempt < 6; ++attempt) {
    if (attempt > 0) {
      log("download " + sha256 + ": " + problem + "; retrying in " + std::to_string(delay.count()) + " ms");
      std::this_thread::sleep_for(delay);
      delay = next_backoff(delay);
    }
    try {
      http::HttpClient client({.server = options_.server, .token = options_.token, .timeout = options_.timeout});
      const auto reply = client.get_to_file("/v1/files/" + sha256, temp);
      if (reply.status != 200) {
        std::filesystem::remove(temp, ec);
        problem = describe(reply);
        if (transient(reply.status)) continue;
        throw Error(reply.status == 404 ? ErrorCode::not_found : ErrorCode::invalid, "file:" + sha256 + ": " + problem);
      }
      const std::string got = sha256_file_hex(temp);
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
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      std::filesystem::remove(temp, ec);
      problem = e.what();
    }
  }
  throw Error(ErrorCode::unavailable, "file:" + sha256 + ": " + problem);
}

}  // namespace trellis
