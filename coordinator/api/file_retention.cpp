#include "coordinator/api/file_retention.h"

#include <iostream>

#include "trainer/spec/data_reference.h"

namespace trellis::api {

std::map<std::string, std::string> live_job_files(JobStore& store) {
  std::map<std::string, std::string> files;
  for (const Job& job : store.live_jobs()) {
    if (auto ref = parse_data_reference(job.spec.data.train)) files.emplace(ref->id, job.id);
    if (job.spec.data.validation)
      if (auto ref = parse_data_reference(*job.spec.data.validation)) files.emplace(ref->id, job.id);
  }
  return files;
}

SweepResult sweep_files(JobApi& api, std::chrono::milliseconds unused_for) {
  const auto listed_at = FileStore::Clock::now();  // before the listing: see FileStore
  std::set<std::string> keep;
  for (const auto& [file, job] : live_job_files(api.store)) keep.insert(file);
  return api.files.sweep(listed_at - unused_for, keep);
}

FileSweepThread::FileSweepThread(JobApi& api, std::chrono::milliseconds unused_for,
                                 std::chrono::milliseconds interval)
    : api_(api), unused_for_(unused_for), interval_(interval), thread_([this] { run(); }) {}

void FileSweepThread::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

void FileSweepThread::run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    try {
      const SweepResult r = sweep_files(api_, unused_for_);
      if (r.files_removed > 0)
        std::cerr << "trellis-coordinator: file retention: removed " << r.files_removed << " file(s), "
                  << r.bytes_removed << " bytes, unused for " << unused_for_.count() / 1000 << " s\n";
    } catch (const std::exception& e) {
      std::cerr << "trellis-coordinator: file retention: " << e.what() << "\n";
    }
    lock.lock();
    wake_.wait_for(lock, interval_, [this] { return stopping_; });
  }
}

}  // namespace trellis::api
