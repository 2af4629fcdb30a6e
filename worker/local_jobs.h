#pragma once
// Rank 0's source of work in local mode (until a coordinator hands out leases): one spec
// (--job), or every *.json spec of a directory in name order (--jobs-dir). Rank 0 only; the
// group receives each job by broadcast.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "worker/group/group_job.h"
#include "worker/worker_options.h"

namespace trellis {

struct LocalJobItem {
  std::string id;               // the spec file's stem
  std::optional<GroupJob> job;  // absent: the spec could not be used (see error) or is done
  std::string error;            // why the spec is unusable (names the file and field)
  bool already_done = false;    // --jobs-dir: its artifact directory exists (a rerun skips it)
};

class LocalJobSource {
 public:
  // Lists the specs now: a missing, unreadable or empty directory is an error (trellis::Error).
  explicit LocalJobSource(const WorkerOptions& options);
  // The next spec, loaded and resolved; nullopt after the last one.
  std::optional<LocalJobItem> next();
  // The backbone of the first spec that loads ("" if none does).
  std::string first_backbone() const;
  size_t size() const { return specs_.size(); }

 private:
  LocalJobItem load(const std::filesystem::path& spec) const;
  WorkerOptions options_;
  std::vector<std::filesystem::path> specs_;
  size_t next_ = 0;
};

}  // namespace trellis
