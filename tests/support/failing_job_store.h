#pragma once
// FailingJobStore: a JobStore decorator for tests that forwards every call to a real store and
// makes the Nth call from now (fail_at(n), 1-based) throw Error(io) instead, without reaching the
// real store, like a database that failed mid-request. calls() counts the calls forwarded or
// failed since the last fail_at/reset. Thread-safe (an atomic counter; the inner store serialises).
#include <atomic>
#include <cstdint>
#include <string>

#include "common/error.h"
#include "coordinator/store/job_store.h"

namespace trellis::testing {

class FailingJobStore : public JobStore {
 public:
  explicit FailingJobStore(JobStore& inner) : inner_(inner) {}

  void fail_at(int64_t n) {  // 0: never
    calls_ = 0;
    fail_at_ = n;
  }
  void reset() { fail_at(0); }
  int64_t calls() const { return calls_; }
  bool failed() const { return fail_at_ > 0 && calls_ >= fail_at_; }

  SubmitResult submit(const SubmitRequest& r) override { return tick("submit"), inner_.submit(r); }
  Job get(const std::string& id) override { return tick("get"), inner_.get(id); }
  std::vector<Job> list(const ListQuery& q) override { return tick("list"), inner_.list(q); }
  std::vector<Job> live_jobs() override { return tick("live_jobs"), inner_.live_jobs(); }
  std::optional<int64_t> queue_position(const std::string& id, int64_t cap) override {
    return tick("queue_position"), inner_.queue_position(id, cap);
  }
  std::optional<int64_t> queue_position_of(const Job& job, int64_t cap) override {
    return tick("queue_position_of"), inner_.queue_position_of(job, cap);
  }
  std::vector<JobEvent> events(const std::string& id, int64_t after, int limit) override {
    return tick("events"), inner_.events(id, after, limit);
  }
  Job cancel(const std::string& id) override { return tick("cancel"), inner_.cancel(id); }
  Group register_group(const Group& g) override { return tick("register_group"), inner_.register_group(g); }
  Group get_group(const std::string& id) override { return tick("get_group"), inner_.get_group(id); }
  std::optional<Lease> lease(const std::string& group, std::chrono::milliseconds ttl) override {
    return tick("lease"), inner_.lease(group, ttl);
  }
  HeartbeatAction heartbeat(const std::string& id, const std::string& lease, int64_t step, int64_t total,
                            const nlohmann::json& metrics) override {
    return tick("heartbeat"), inner_.heartbeat(id, lease, step, total, metrics);
  }
  Job complete(const std::string& id, const std::string& lease, const std::string& artifact) override {
    return tick("complete"), inner_.complete(id, lease, artifact);
  }
  Job fail(const std::string& id, const std::string& lease, const JobError& e, bool retryable) override {
    return tick("fail"), inner_.fail(id, lease, e, retryable);
  }
  Job cancelled(const std::string& id, const std::string& lease) override {
    return tick("cancelled"), inner_.cancelled(id, lease);
  }
  std::vector<std::string> expire_leases(Time now) override { return tick("expire_leases"), inner_.expire_leases(now); }
  std::vector<std::string> release_group(const std::string& group, const JobError& e) override {
    return tick("release_group"), inner_.release_group(group, e);
  }
  void record_launch(const LaunchedJob& l) override { tick("record_launch"), inner_.record_launch(l); }
  std::vector<LaunchedJob> launched_jobs(bool include_ended) override {
    return tick("launched_jobs"), inner_.launched_jobs(include_ended);
  }
  LauncherSnapshot launcher_snapshot(Time since) override {
    return tick("launcher_snapshot"), inner_.launcher_snapshot(since);
  }
  StoreStats stats(Time since) override { return tick("stats"), inner_.stats(since); }

 private:
  void tick(const char* call) {
    const int64_t n = ++calls_;
    if (fail_at_ > 0 && n == fail_at_)
      throw Error(ErrorCode::io,
                  std::string("injected storage failure in ") + call + " (call " + std::to_string(n) + ")");
  }
  JobStore& inner_;
  std::atomic<int64_t> calls_{0};
  std::atomic<int64_t> fail_at_{0};
};

}  // namespace trellis::testing
