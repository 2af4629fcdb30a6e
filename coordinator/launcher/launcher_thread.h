#pragma once
// LauncherThread: runs a GroupLauncher's tick() on a thread of its own (sbatch, squeue and scancel
// block), every `poll`, or at once after wake() (a job was submitted: a cold start need not wait
// for the next poll). Owns the Slurm client and the launcher; the thread is a PeriodicThread.
// Thread-safety: wake(), metrics(), request_stop() and stop() may be called from any thread. stop() is
// idempotent and joins the thread (a Slurm command in flight finishes first, up to its timeout);
// the destructor stops.
#include <chrono>
#include <memory>
#include <string>

#include "coordinator/launcher/group_launcher.h"
#include "coordinator/launcher/slurm_client.h"
#include "common/periodic_thread.h"

namespace trellis {

class LauncherThread {
 public:
  LauncherThread(JobStore& store, SlurmCommandOptions slurm_options, const Clock& clock, LauncherOptions options,
                 GroupLauncher::ReleaseFn release, std::chrono::milliseconds poll);
  LauncherThread(const LauncherThread&) = delete;
  LauncherThread& operator=(const LauncherThread&) = delete;

  void wake() { thread_.wake(); }
  std::string metrics() const { return launcher_->render_metrics(); }
  void request_stop() { thread_.request_stop(); }  // does not wait: no tick starts after it
  void stop() { thread_.stop(); }                  // request_stop(), then joins

 private:
  std::unique_ptr<SlurmCommandClient> slurm_;
  std::unique_ptr<GroupLauncher> launcher_;
  PeriodicThread thread_;  // last: starts once everything above exists, stops first
};

}  // namespace trellis
