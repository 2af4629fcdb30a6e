#include "coordinator/launcher/launcher_thread.h"

namespace trellis {

LauncherThread::LauncherThread(JobStore& store, SlurmCommandOptions slurm_options, const Clock& clock,
                               LauncherOptions options, GroupLauncher::ReleaseFn release,
                               std::chrono::milliseconds poll)
    : slurm_(std::make_unique<SlurmCommandClient>(std::move(slurm_options))),
      launcher_(std::make_unique<GroupLauncher>(store, *slurm_, clock, std::move(options), std::move(release))),
      poll_(poll),
      thread_([this] { run(); }) {}

LauncherThread::~LauncherThread() { stop(); }

void LauncherThread::wake() {
  {
    std::lock_guard lock(mutex_);
    wake_ = true;
  }
  cv_.notify_all();
}

void LauncherThread::request_stop() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
}

void LauncherThread::stop() {
  request_stop();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

void LauncherThread::run() {
  std::unique_lock lock(mutex_);
  while (!stop_) {
    lock.unlock();
    launcher_->tick();  // never throws; logs its own errors
    lock.lock();
    cv_.wait_for(lock, poll_, [this] { return stop_ || wake_; });
    wake_ = false;
  }
}

}  // namespace trellis
