#pragma once
// Retention of uploaded data files: which files live jobs need, a sweep that removes the others
// once unused for a while, and a thread that runs the sweep periodically.
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "coordinator/api/job_api.h"

namespace trellis::api {

// File id -> one queued, leased or running job whose data.train or data.validation it is (from
// one consistent view of the store: JobStore::live_jobs).
std::map<std::string, std::string> live_job_files(JobStore& store);

// Removes the files unused for `unused_for` that no live job references (FileStore::sweep).
SweepResult sweep_files(JobApi& api, std::chrono::milliseconds unused_for);

// Runs sweep_files on a thread of its own (a sweep walks the file store, which must not hold up
// request handlers): at once, then every `interval`; logs what it removed to stderr.
// Starts in the constructor; stop() (idempotent, any thread) ends the wait and joins the thread
// (a sweep in progress finishes first). The JobApi must outlive it.
class FileSweepThread {
 public:
  FileSweepThread(JobApi& api, std::chrono::milliseconds unused_for, std::chrono::milliseconds interval);
  ~FileSweepThread() { stop(); }
  FileSweepThread(const FileSweepThread&) = delete;
  FileSweepThread& operator=(const FileSweepThread&) = delete;
  void stop();

 private:
  void run();
  JobApi& api_;
  const std::chrono::milliseconds unused_for_, interval_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;  // guarded by mutex_
  std::thread thread_;     // last: started once the rest is built
};

}  // namespace trellis::api
