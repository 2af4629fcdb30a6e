#include "registry/staging_sweeper.h"

#include <sys/stat.h>

#include <algorithm>
#include <optional>
#include <system_error>

#include "common/error.h"
#include "registry/registry_layout.h"

namespace trellis {
namespace fs = std::filesystem;
using Clock = std::chrono::system_clock;

namespace {

// Last modification of `p` (lstat, not following links), or nullopt if it vanished.
std::optional<Clock::time_point> mtime(const fs::path& p) {
  struct stat st {};
  if (::lstat(p.c_str(), &st) != 0) return std::nullopt;
  return Clock::time_point(std::chrono::duration_cast<Clock::duration>(std::chrono::seconds(st.st_mtim.tv_sec) +
                                                                       std::chrono::nanoseconds(st.st_mtim.tv_nsec)));
}

// The newest modification time of an entry and, for a directory, its direct children.
std::optional<Clock::time_point> newest(const fs::path& entry) {
  auto t = mtime(entry);
  if (!t) return t;
  std::error_code ec;
  if (fs::symlink_status(entry, ec).type() != fs::file_type::directory) return t;
  for (fs::directory_iterator it(entry, ec); !ec && it != fs::directory_iterator(); it.increment(ec))
    if (auto c = mtime(it->path())) t = std::max(*t, *c);
  return t;
}

void sweep_dir(const fs::path& dir, bool only_tmp, Clock::duration max_age, Clock::time_point now,
               SweepReport& report) {
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec == std::errc::no_such_file_or_directory) return;
  if (ec) {
    report.failures.push_back("cannot list '" + dir.string() + "': " + ec.message());
    return;
  }
  std::vector<fs::path> stale;
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (only_tmp && it->path().filename().string().rfind(".tmp-", 0) != 0) continue;
    const auto t = newest(it->path());
    if (t && now - *t > max_age) stale.push_back(it->path());
  }
  if (ec) report.failures.push_back("cannot list '" + dir.string() + "': " + ec.message());
  for (const auto& p : stale) {
    std::error_code rm;
    fs::remove_all(p, rm);
    if (rm) report.failures.push_back("cannot remove '" + p.string() + "': " + rm.message());
    else report.removed.push_back(p);
  }
}

}  // namespace

SweepReport sweep_staging(const RegistryLayout& layout, Clock::duration max_age, Clock::time_point now) {
  SweepReport report;
  for (const auto& task : layout.scan_tasks()) {
    sweep_dir(layout.staging_root(task), false, max_age, now, report);
    sweep_dir(layout.aliases_dir(task), true, max_age, now, report);
  }
  return report;
}

}  // namespace trellis
