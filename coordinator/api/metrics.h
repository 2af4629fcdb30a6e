#pragma once
// Prometheus text exposition for GET /metrics: request latency histograms (by route pattern,
// method and status class), fed by the Router's observer, plus the store's gauges at scrape time.
// Thread-safety: observe() and render() may run concurrently (one mutex).
#include <array>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <tuple>

#include "coordinator/api/job_api.h"

namespace trellis::api {

class RequestMetrics {
 public:
  static constexpr std::array<double, 13> kBuckets{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                   0.1,    0.25,  0.5,    1.0,   5.0,  30.0};
  void observe(const std::string& route, http::beast_http::verb method, unsigned status, double seconds);
  std::string render() const;  // the histogram's lines

 private:
  struct Series {
    std::array<uint64_t, kBuckets.size()> buckets{};  // non-cumulative counts
    uint64_t count = 0;
    double sum = 0;
  };
  mutable std::mutex mutex_;
  std::map<std::tuple<std::string, std::string, std::string>, Series> series_;  // route, method, "2xx"
};

// GET /metrics (any role): jobs by state, queue depth, active groups, leases, long-poll waiters,
// and the request histogram. A group is active when seen within `group_active_window`.
// `extra` (optional) appends more exposition lines (the launcher's, in launcher mode).
void add_metrics_route(http::Router& router, JobApi& api, const RequestMetrics& metrics,
                       std::chrono::milliseconds group_active_window, const std::function<std::string()>& extra = {});

}  // namespace trellis::api
