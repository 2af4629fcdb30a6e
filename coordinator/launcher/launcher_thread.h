#pragma once
// LauncherThread: runs a GroupLauncher's tick() on a thread of its own (sbatch, squeue and scancel
// block), every `poll`, or at once after wake() (a job was submitted: a cold start need not wait
// for the next poll). Owns the Slurm client and the launcher.
// Thread-safety: wake(), metrics(), request_stop() and stop() may be called from any thread. stop() is
// idempotent and joins the thread (a Slurm command in flight finishes first, up to its timeout);
// the destructor stops.
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "coordinator/launcher/group_launcher.h"
#include "coordinator/launcher/slurm_client.h"

namespace trellis {

class LauncherThread {
 public:
  LauncherThread(JobStore& store, SlurmCommandOptions slurm_options, const Clock& clock, LauncherOptions options,
                 GroupLauncher::ReleaseFn release, std::chrono::milliseconds poll);
  ~LauncherThread();
  LauncherThread(const LauncherThread&) = delete;
  LauncherThread& operator=(const LauncherThread&) = delete;

  void wake();
  std::string metrics() const { return launcher_->render_metrics(); }
  void request_stop();  // does not wait: no tick starts after it
  void stop();          // request_stop(), then joins

 private:
  void run();

  std::unique_ptr<SlurmCommandClient> slurm_;
  std::unique_ptr<GroupLauncher> launcher_;
  const std::chrono::milliseconds poll_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stop_ = false, wake_ = false;
  std::thread thread_;  // last: starts once everything above exists
};

}  // namespace trellis
