#pragma once
// A fake coordinator for the worker's client code: the project's HttpServer on loopback (port 0,
// io_context in a background thread) with a Router whose handlers record every request and
// answer scripted replies (per route pattern, first in first out; a default reply when none is
// scripted). Waits are bounded (callers pass a timeout).
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include "coordinator/http/auth.h"
#include "coordinator/http/http_server.h"
#include "coordinator/http/router.h"
#include "protocol/messages.h"

namespace trellis::testing {

struct FakeReply {
  unsigned status = 200;
  std::string body;  // sent as application/json when not empty
};

struct Recorded {
  std::string route;   // the pattern, e.g. "/v1/jobs/{id}/heartbeat"
  std::string target;  // as sent (query included)
  http::PathParams params;
  std::map<std::string, std::string> query;
  std::string authorization;
  std::string body;
  std::chrono::steady_clock::time_point at;
  nlohmann::json json() const { return body.empty() ? nlohmann::json() : nlohmann::json::parse(body); }
};

inline constexpr const char* kWorkerToken = "worker-token-0123456789";
inline constexpr const char* kGroups = "/v1/groups";
inline constexpr const char* kLease = "/v1/groups/{group}/lease";
inline constexpr const char* kHeartbeat = "/v1/jobs/{id}/heartbeat";
inline constexpr const char* kComplete = "/v1/jobs/{id}/complete";
inline constexpr const char* kFail = "/v1/jobs/{id}/fail";
inline constexpr const char* kCancelled = "/v1/jobs/{id}/cancelled";
inline constexpr const char* kFiles = "/v1/files/{sha}";

class FakeCoordinator {
 public:
  FakeCoordinator() {
    tokens_.add(kWorkerToken, http::Role::worker);
    namespace bh = boost::beast::http;
    defaults_[kGroups] = {
        201, body(protocol::GroupRegistered{.group_id = "g-1", .lease_ttl_ms = 30000, .heartbeat_ms = 10000})};
    defaults_[kLease] = {204, ""};
    defaults_[kHeartbeat] = {200, body(protocol::HeartbeatAnswer{})};
    defaults_[kComplete] = {200, body(job("j-1", JobState::succeeded))};
    defaults_[kFail] = {200, body(job("j-1", JobState::failed))};
    defaults_[kCancelled] = {200, body(job("j-1", JobState::cancelled))};
    defaults_[kFiles] = {404, body(protocol::ErrorReply{{"not_found", "no such file"}})};
    for (const char* p : {kGroups, kLease, kHeartbeat, kComplete, kFail, kCancelled}) add(bh::verb::post, p);
    add(bh::verb::get, kFiles);
    http::ServerOptions options;
    options.read_timeout = std::chrono::seconds(5);
    options.write_timeout = std::chrono::seconds(5);
    server_ = std::make_unique<http::HttpServer>(ioc_, options, router_);
    server_->start();
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~FakeCoordinator() {
    server_->stop();
    thread_.join();
  }
  FakeCoordinator(const FakeCoordinator&) = delete;
  FakeCoordinator& operator=(const FakeCoordinator&) = delete;

  // The body of a wire message (protocol/messages.h), for scripted replies.
  template <class T>
  static std::string body(const T& message) {
    return nlohmann::json(message).dump();
  }
  static protocol::JobMessage job(const std::string& id, JobState state) {
    protocol::JobMessage j;
    j.id = id;
    j.state = state;
    return j;
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_->local_endpoint().port()); }

  // The next request on `route` gets `reply` (queued behind earlier scripted replies).
  void script(const std::string& route, FakeReply reply) {
    std::lock_guard lock(mutex_);
    scripted_[route].push_back(std::move(reply));
  }
  void set_default(const std::string& route, FakeReply reply) {
    std::lock_guard lock(mutex_);
    defaults_[route] = std::move(reply);
  }

  std::vector<Recorded> requests(const std::string& route) const {
    std::lock_guard lock(mutex_);
    std::vector<Recorded> out;
    for (const auto& r : recorded_)
      if (r.route == route) out.push_back(r);
    return out;
  }
  size_t count(const std::string& route) const { return requests(route).size(); }

  // Waits until `route` has seen at least `n` requests; false on timeout.
  bool wait_for(const std::string& route, size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(3)) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] {
      size_t c = 0;
      for (const auto& r : recorded_) c += r.route == route;
      return c >= n;
    });
  }

 private:
  void add(boost::beast::http::verb method, const std::string& pattern) {
    router_.add(
        method, pattern, {http::Role::worker},
        [this, pattern](const http::Request& req, const http::RouteContext& ctx) { return answer(pattern, req, ctx); });
  }

  http::Response answer(const std::string& pattern, const http::Request& req, const http::RouteContext& ctx) {
    FakeReply reply;
    {
      std::lock_guard lock(mutex_);
      Recorded r;
      r.route = pattern;
      r.target = std::string(req.target());
      r.params = ctx.params;
      r.query = ctx.query;
      r.authorization = std::string(req[boost::beast::http::field::authorization]);
      r.body = req.body();
      r.at = std::chrono::steady_clock::now();
      recorded_.push_back(std::move(r));
      auto& queue = scripted_[pattern];
      if (!queue.empty()) {
        reply = queue.front();
        queue.pop_front();
      } else {
        reply = defaults_[pattern];
      }
    }
    changed_.notify_all();
    http::StringResponse res{static_cast<boost::beast::http::status>(reply.status), req.version()};
    res.keep_alive(req.keep_alive());
    if (!reply.body.empty()) {
      res.set(boost::beast::http::field::content_type, "application/json");
      res.body() = reply.body;
    }
    res.prepare_payload();
    return res;
  }

  boost::asio::io_context ioc_;
  http::TokenStore tokens_;
  http::Router router_{tokens_};
  std::unique_ptr<http::HttpServer> server_;
  std::thread thread_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Recorded> recorded_;
  std::map<std::string, std::deque<FakeReply>> scripted_;
  std::map<std::string, FakeReply> defaults_;
};

}  // namespace trellis::testing
