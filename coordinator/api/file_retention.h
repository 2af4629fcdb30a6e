#pragma once
// Retention of uploaded data files: which files live jobs need, and a sweep that removes the
// others once unused for a while (the coordinator runs it on a PeriodicThread).
#include <chrono>
#include <map>
#include <string>

#include "coordinator/api/job_api.h"

namespace trellis::api {

// File id -> one queued, leased or running job whose data.train or data.validation it is (from
// one consistent view of the store: JobStore::live_jobs).
std::map<std::string, std::string> live_job_files(JobStore& store);

// Removes the files unused for `unused_for` that no live job references (FileStore::sweep).
SweepResult sweep_files(JobApi& api, std::chrono::milliseconds unused_for);

}  // namespace trellis::api
