#include "coordinator/api/file_retention.h"

#include "trainer/data/data_reference.h"

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

}  // namespace trellis::api
