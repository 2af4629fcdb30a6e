#include "coordinator/api/file_retention.h"

#include <iostream>

#include "trainer/spec/data_reference.h"

namespace trellis::api {

std::map<std::string, std::string> live_job_files(JobStore& store) {
  std::map<std::string, std::string> files;
  for (JobState state : {JobState::queued, JobState::leased, JobState::running}) {
    ListQuery query;
    query.state = state;
    query.limit = 1000;
    for (;;) {
      const std::vector<Job> page = store.list(query);
      for (const Job& job : page) {
        if (auto ref = parse_data_reference(job.spec.data.train)) files.emplace(ref->id, job.id);
        if (job.spec.data.validation)
          if (auto ref = parse_data_reference(*job.spec.data.validation)) files.emplace(ref->id, job.id);
      }
      if (static_cast<int>(page.size()) < query.limit) break;
      query.after = page.back().id;
    }
  }
  return files;
}

SweepResult sweep_files(JobApi& api, std::chrono::seconds unused_for) {
  const auto listed_at = FileStore::Clock::now();  // before the listing: see FileStore
  std::set<std::string> keep;
  for (const auto& [file, job] : live_job_files(api.store)) keep.insert(file);
  return api.files.sweep(listed_at - unused_for, keep);
}

FileSweepTimer::FileSweepTimer(boost::asio::io_context& ioc, JobApi& api, std::chrono::seconds unused_for,
                               std::chrono::seconds interval)
    : api_(api), unused_for_(unused_for), interval_(interval), timer_(ioc) {}

void FileSweepTimer::start() { schedule(std::chrono::steady_clock::duration::zero()); }

void FileSweepTimer::stop() {
  stopped_ = true;
  timer_.cancel();
}

void FileSweepTimer::schedule(std::chrono::steady_clock::duration after) {
  timer_.expires_after(after);
  timer_.async_wait([this](boost::system::error_code ec) {
    if (ec || stopped_) return;
    try {
      const SweepResult r = sweep_files(api_, unused_for_);
      if (r.files_removed > 0)
        std::cerr << "trellis-coordinator: file retention: removed " << r.files_removed << " file(s), "
                  << r.bytes_removed << " bytes, unused for " << unused_for_.count() << " s\n";
    } catch (const std::exception& e) {
      std::cerr << "trellis-coordinator: file retention: " << e.what() << "\n";
    }
    schedule(interval_);
  });
}

}  // namespace trellis::api
