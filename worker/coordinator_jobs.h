#pragma once
// Coordinator mode, rank 0: turns a leased job (protocol::JobMessage) into the GroupJob the group
// trains. Every data reference (trainer/data/data_reference.h) is downloaded once into the data
// cache as <cache>/<sha256> (verified before it appears there) and replaced by the path of a link
// <cache>/<sha256>.<ext> to it: the readers pick the format by extension, which the reference
// names ("file:<sha256>.jsonl") or, without one, is sniffed (JSON lines, else TSV with a tab in
// the first line, else CSV). Every rank must be able to read it (one host, or a shared
// filesystem). The checkpoint is <checkpoint-dir>/<job id>.ckpt, so a job leased again (by this
// group or another sharing the directory) resumes from it; the artifact goes to a fresh temporary
// directory (remove its parent with remove_job_staging once published). No LibTorch here.
#include <filesystem>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "protocol/coordinator_client.h"
#include "worker/group/group_job.h"

namespace trellis {

struct CoordinatorJobOptions {
  std::filesystem::path checkpoint_dir;
  std::filesystem::path data_cache;  // default (empty): <checkpoint_dir>/data-cache
  std::string backbone;              // the group's backbone
};

struct LeasedJob {
  std::optional<GroupJob> job;  // absent: the job cannot run here (see error)
  std::string error_code;       // "invalid_job", "data_unavailable", "wrong_backbone"
  std::string error;
  bool retryable = false;  // false: the job's own spec or data is at fault
};

LeasedJob prepare_leased_job(const protocol::JobMessage& job_message, protocol::CoordinatorClient& client,
                             const CoordinatorJobOptions& options);
// The data cache's directory (absolute): options.data_cache, or <checkpoint_dir>/data-cache.
std::filesystem::path data_cache_dir(const CoordinatorJobOptions& options);
// Removes the temporary directory that holds `job.out` (no error if it is gone).
void remove_job_staging(const GroupJob& job);
// Removes the staging directories (<tmp>/trellis-worker-<pid>-...) of worker processes on this
// host that no longer exist (a group killed mid-job leaves its own). Returns how many.
int sweep_dead_workers_staging();

}  // namespace trellis
