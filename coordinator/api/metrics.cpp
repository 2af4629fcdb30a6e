#include "coordinator/api/metrics.h"

#include <cstdio>

#include "common/clock.h"

namespace trellis::api {

namespace bh = http::beast_http;

void RequestMetrics::observe(const std::string& route, bh::verb method, unsigned status, double seconds) {
  const auto m = bh::to_string(method);
  const std::string klass = std::to_string(status / 100) + "xx";
  std::lock_guard lock(mutex_);
  Series& s = series_[{route, std::string(m.data(), m.size()), klass}];
  size_t i = 0;
  while (i < kBuckets.size() && seconds > kBuckets[i]) ++i;
  if (i < kBuckets.size()) ++s.buckets[i];
  ++s.count;
  s.sum += seconds;
}

namespace {
std::string escape_label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}
std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}
}  // namespace

std::string RequestMetrics::render() const {
  std::string out =
      "# HELP trellis_http_request_duration_seconds Time from a parsed request to its response.\n"
      "# TYPE trellis_http_request_duration_seconds histogram\n";
  std::lock_guard lock(mutex_);
  for (const auto& [key, s] : series_) {
    const auto& [route, method, klass] = key;
    const std::string labels = "route=\"" + escape_label(route) + "\",method=\"" + method + "\",status=\"" + klass +
                               "\"";
    uint64_t cumulative = 0;
    for (size_t i = 0; i < kBuckets.size(); ++i) {
      cumulative += s.buckets[i];
      out += "trellis_http_request_duration_seconds_bucket{" + labels + ",le=\"" + number(kBuckets[i]) + "\"} " +
             std::to_string(cumulative) + "\n";
    }
    out += "trellis_http_request_duration_seconds_bucket{" + labels + ",le=\"+Inf\"} " + std::to_string(s.count) + "\n";
    out += "trellis_http_request_duration_seconds_sum{" + labels + "} " + number(s.sum) + "\n";
    out += "trellis_http_request_duration_seconds_count{" + labels + "} " + std::to_string(s.count) + "\n";
  }
  return out;
}

void add_metrics_route(http::Router& router, JobApi& api, const RequestMetrics& metrics,
                       std::chrono::milliseconds group_active_window, const std::function<std::string()>& extra) {
  router.add(bh::verb::get, "/metrics", {http::Role::user, http::Role::worker, http::Role::admin},
             [&api, &metrics, group_active_window, extra](const http::Request& req, const http::RouteContext&) {
               const StoreStats stats = api.store.stats(SystemClock().now() - group_active_window);
               std::string out = "# HELP trellis_jobs Jobs by state.\n# TYPE trellis_jobs gauge\n";
               for (const auto& [state, n] : stats.jobs_by_state)
                 out += "trellis_jobs{state=\"" + to_string(state) + "\"} " + std::to_string(n) + "\n";
               out += "# HELP trellis_queue_depth Jobs waiting for a worker group.\n# TYPE trellis_queue_depth gauge\n";
               out += "trellis_queue_depth " + std::to_string(stats.jobs_by_state.at(JobState::queued)) + "\n";
               out += "# HELP trellis_leases Jobs holding a lease (leased or running).\n# TYPE trellis_leases gauge\n";
               out += "trellis_leases " +
                      std::to_string(stats.jobs_by_state.at(JobState::leased) +
                                     stats.jobs_by_state.at(JobState::running)) +
                      "\n";
               out += "# HELP trellis_groups Worker groups seen recently.\n# TYPE trellis_groups gauge\n";
               out += "trellis_groups " + std::to_string(stats.groups_active) + "\n";
               out += "# HELP trellis_long_polls Requests waiting in a long-poll.\n# TYPE trellis_long_polls gauge\n";
               out += "trellis_long_polls " + std::to_string(api.feed.waiting()) + "\n";
               if (extra) out += extra();
               out += metrics.render();
               http::StringResponse res{bh::status::ok, req.version()};
               res.set(bh::field::content_type, "text/plain; version=0.0.4");
               res.keep_alive(req.keep_alive());
               res.body() = std::move(out);
               res.prepare_payload();
               return http::Response(std::move(res));
             });
}

}  // namespace trellis::api
