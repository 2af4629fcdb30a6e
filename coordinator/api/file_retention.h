#pragma once
// Retention of uploaded data files: which files live jobs need, a sweep that removes the others
// once unused for a while, and a timer that runs the sweep periodically on an io_context.
#include <atomic>
#include <chrono>
#include <map>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "coordinator/api/job_api.h"

namespace trellis::api {

// File id -> one queued, leased or running job whose data.train or data.validation it is.
std::map<std::string, std::string> live_job_files(JobStore& store);

// Removes the files unused for `unused_for` that no live job references (FileStore::sweep).
SweepResult sweep_files(JobApi& api, std::chrono::seconds unused_for);

// Runs sweep_files every `interval` (the first one at once) and logs what it removed to stderr.
// Call order: start() once, then stop() (from any thread) before the io_context is destroyed.
// The JobApi must outlive it.
class FileSweepTimer {
 public:
  FileSweepTimer(boost::asio::io_context& ioc, JobApi& api, std::chrono::seconds unused_for,
                 std::chrono::seconds interval);
  void start();
  void stop();

 private:
  void schedule(std::chrono::steady_clock::duration after);
  JobApi& api_;
  const std::chrono::seconds unused_for_, interval_;
  boost::asio::steady_timer timer_;
  std::atomic<bool> stopped_{false};
};

}  // namespace trellis::api
