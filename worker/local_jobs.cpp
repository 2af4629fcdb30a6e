#include "worker/local_jobs.h"

#include <unistd.h>

#include <algorithm>

#include "common/error.h"

namespace trellis {

LocalJobSource::LocalJobSource(const WorkerOptions& options) : options_(options) {
  if (!options.job.empty()) {
    specs_.push_back(options.job);
    return;
  }
  std::error_code ec;
  std::filesystem::directory_iterator it(options.jobs_dir, ec);
  if (ec) throw Error(options.jobs_dir + ": cannot list the jobs directory: " + ec.message());
  for (const auto& entry : it)
    if (entry.path().extension() == ".json" && entry.is_regular_file()) specs_.push_back(entry.path());
  if (specs_.empty()) throw Error(options.jobs_dir + ": no *.json job specs in the jobs directory");
  std::sort(specs_.begin(), specs_.end());
}

LocalJobItem LocalJobSource::load(const std::filesystem::path& spec_path) const {
  LocalJobItem item;
  item.id = spec_path.stem().string();
  try {
    GroupJob job;
    job.id = item.id;
    job.spec = load_job_spec(spec_path);
    resolve_data_paths(job.spec, std::filesystem::absolute(spec_path).parent_path());
    // Without --out (publishing to a registry), artifacts are staged in a temporary directory.
    const std::filesystem::path base =
        options_.out.empty() ? std::filesystem::temp_directory_path() /
                                   ("trellis-worker-" + std::to_string(::getpid()) + "-" + std::to_string(next_))
                             : std::filesystem::path(options_.out);
    const std::filesystem::path out = options_.job.empty() || options_.out.empty() ? base / item.id : base;
    job.out = std::filesystem::absolute(out).string();
    if (!options_.checkpoint_dir.empty())
      job.checkpoint_file =
          (std::filesystem::absolute(options_.checkpoint_dir) / (item.id + ".checkpoint.safetensors")).string();
    if (options_.job.empty() && !options_.out.empty() && std::filesystem::exists(out)) {
      item.already_done = true;
      return item;
    }
    item.job = std::move(job);
  } catch (const std::exception& e) {
    item.error = e.what();
  }
  return item;
}

std::optional<LocalJobItem> LocalJobSource::next() {
  if (next_ >= specs_.size()) return std::nullopt;
  return load(specs_[next_++]);
}

std::string LocalJobSource::first_backbone() const {
  for (const auto& spec : specs_) {
    LocalJobItem item = load(spec);
    if (item.job) return item.job->spec.backbone;
  }
  return "";
}

}  // namespace trellis
