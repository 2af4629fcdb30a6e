#include "worker/coordinator_jobs.h"

#include <signal.h>

#include <cerrno>
#include <cstdlib>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <fstream>

#include "trainer/data/data_reference.h"
#include "trainer/spec/job_spec.h"
#include "common/error.h"
#include "worker/disk_retention.h"

namespace trellis {

namespace {

bool safe_id(const std::string& id) {
  return !id.empty() && id.size() <= 128 && id.front() != '.' && std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
  });
}

// ".jsonl" when the first non-blank line starts with '{', ".tsv" when it holds a tab, else ".csv".
std::string sniff_extension(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::string line;
  while (std::getline(in, line)) {
    const auto first = line.find_first_not_of(" \t\r\xEF\xBB\xBF");
    if (first == std::string::npos) continue;
    if (line[first] == '{') return ".jsonl";
    return line.find('\t') != std::string::npos ? ".tsv" : ".csv";
  }
  return ".jsonl";
}

}  // namespace

LeasedJob prepare_leased_job(const protocol::JobMessage& job_message, protocol::CoordinatorClient& client,
                             const CoordinatorJobOptions& options) {
  LeasedJob leased;
  auto refuse = [&](std::string code, std::string error, bool retryable) {
    leased.job.reset();
    leased.error_code = std::move(code);
    leased.error = std::move(error);
    leased.retryable = retryable;
    return leased;
  };
  GroupJob job;
  job.id = job_message.id;
  if (!safe_id(job.id)) return refuse("invalid_job", "the leased job's id is not usable: '" + job.id + "'", false);
  try {
    job.spec = parse_job_spec(job_message.spec, "job " + job.id);
  } catch (const std::exception& e) {
    return refuse("invalid_job", e.what(), false);
  }
  if (!options.backbone.empty() && job.spec.backbone != options.backbone)
    return refuse("wrong_backbone",
                  "job " + job.id + " needs backbone " + job.spec.backbone + "; this group serves " + options.backbone,
                  true);
  const std::filesystem::path cache = data_cache_dir(options);
  auto localise = [&](std::string& ref, const char* field) {
    // "file:<sha256>[.<ext>]": the extension, when given, names the format.
    const auto parsed = parse_data_reference(ref);
    if (!parsed)
      throw Error(ErrorCode::invalid,
                  std::string("data.") + field + ": '" + ref + "' is not a file id (file:<sha256>[.ext])");
    const std::string& sha = parsed->id;
    const std::string& ext = parsed->extension;
    const auto local = cache / sha;
    if (std::filesystem::exists(local))
      mark_data_used(local);  // keeps a trim (disk_retention.h) from removing it under this job
    else client.download_file(sha, local);
    // The readers pick the format by extension: a link <sha256>.<ext> names it (sniffed if not given).
    const auto named = cache / (sha + (ext.empty() ? sniff_extension(local) : ext));
    std::error_code ec;
    if (!std::filesystem::is_symlink(named, ec)) {
      std::filesystem::create_symlink(sha, named, ec);
      if (ec && !std::filesystem::is_symlink(named)) throw Error(ErrorCode::io, named.string() + ": " + ec.message());
    }
    ref = named.string();
  };
  try {
    localise(job.spec.data.train, "train");
    if (job.spec.data.validation) localise(*job.spec.data.validation, "validation");
  } catch (const std::exception& e) {
    // The job's own data at fault (not a file id, no such file, other bytes) is final; anything
    // else (the coordinator or the cache disk) may pass.
    const auto* error = dynamic_cast<const Error*>(&e);
    const bool own_fault = error && (error->code() == ErrorCode::invalid || error->code() == ErrorCode::not_found ||
                                     error->code() == ErrorCode::broken);
    return refuse("data_unavailable", e.what(), !own_fault);
  }
  std::error_code ec;
  std::filesystem::create_directories(options.checkpoint_dir, ec);
  if (ec)
    return refuse("internal",
                  options.checkpoint_dir.string() + ": cannot create the checkpoint directory: " + ec.message(), true);
  static std::atomic<int> counter{0};
  const auto staging = std::filesystem::temp_directory_path() / ("trellis-worker-" + std::to_string(::getpid()) + "-" +
                                                                 std::to_string(counter++) + "-" + job.id);
  std::filesystem::create_directories(staging, ec);
  if (ec) return refuse("internal", staging.string() + ": cannot create the staging directory: " + ec.message(), true);
  job.out = (staging / "artifact").string();
  job.checkpoint_file = (std::filesystem::absolute(options.checkpoint_dir) / (job.id + ".ckpt")).string();
  leased.job = std::move(job);
  return leased;
}

std::filesystem::path data_cache_dir(const CoordinatorJobOptions& options) {
  return std::filesystem::absolute(options.data_cache.empty() ? options.checkpoint_dir / "data-cache"
                                                              : options.data_cache);
}

void remove_job_staging(const GroupJob& job) {
  if (job.out.empty()) return;
  std::error_code ignored;
  std::filesystem::remove_all(std::filesystem::path(job.out).parent_path(), ignored);
}

namespace {
// A zombie (exited, not reaped yet) counts as gone.
bool process_alive(pid_t pid) {
  if (::kill(pid, 0) != 0 && errno == ESRCH) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  std::getline(stat, text);
  const size_t paren = text.rfind(')');
  return !(paren != std::string::npos && paren + 2 < text.size() && text[paren + 2] == 'Z');
}
}  // namespace

int sweep_dead_workers_staging() {
  constexpr std::string_view kPrefix = "trellis-worker-";
  int removed = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(std::filesystem::temp_directory_path(), ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(kPrefix, 0) != 0) continue;
    const std::string rest = name.substr(kPrefix.size());
    const size_t dash = rest.find('-');
    if (dash == 0 || dash == std::string::npos) continue;
    const std::string pid_text = rest.substr(0, dash);
    if (!std::all_of(pid_text.begin(), pid_text.end(), [](char c) { return c >= '0' && c <= '9'; })) continue;
    const long pid = std::strtol(pid_text.c_str(), nullptr, 10);
    if (pid <= 0 || pid == ::getpid() || process_alive(static_cast<pid_t>(pid))) continue;
    std::error_code ignored;
    if (std::filesystem::remove_all(entry.path(), ignored) > 0) ++removed;
  }
  return removed;
}

}  // namespace trellis
