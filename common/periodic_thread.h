#pragma once
// PeriodicThread: runs a task on a thread of its own, at once and then every `interval` (or as
// soon as wake() is called), until stopped: background work that must not hold up request
// handlers (the coordinator's lease expiry, file retention sweeps, Slurm launcher). An exception
// from the task goes to `on_error` (with what()) and the runs go on.
// Thread-safety: wake(), request_stop() and stop() from any thread (the stops are idempotent);
// stop() also joins (a run in progress finishes first) and must not be called from the task. The
// destructor stops.
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace trellis {

class PeriodicThread {
 public:
  PeriodicThread(std::chrono::milliseconds interval, std::function<void()> task,
                 std::function<void(const std::string&)> on_error);
  ~PeriodicThread() { stop(); }
  PeriodicThread(const PeriodicThread&) = delete;
  PeriodicThread& operator=(const PeriodicThread&) = delete;

  void wake();          // the next run starts now (or right after the one in progress)
  void request_stop();  // no further run starts
  void stop();          // request_stop(), then join

 private:
  void run();
  const std::chrono::milliseconds interval_;
  const std::function<void()> task_;
  const std::function<void(const std::string&)> on_error_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false, woken_ = false;  // guarded by mutex_
  std::thread thread_;                     // last: started once the rest is built
};

}  // namespace trellis
