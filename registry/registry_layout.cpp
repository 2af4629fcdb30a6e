#include "registry/registry_layout.h"

#include <algorithm>
#include <system_error>

#include "registry/artifact_ref.h"
#include "common/error.h"

namespace trellis {
namespace fs = std::filesystem;

RegistryLayout::RegistryLayout(fs::path root) : root_(std::move(root)) {
  if (root_.empty()) throw Error(ErrorCode::invalid, "the registry root is empty");
  root_ = root_.lexically_normal();
}

fs::path RegistryLayout::task_dir(const std::string& task) const {
  check_task_name(task);
  return root_ / task;
}

fs::path RegistryLayout::version_dir(const std::string& task, int64_t version) const {
  check_version_number(version);
  return task_dir(task) / std::to_string(version);
}

fs::path RegistryLayout::aliases_dir(const std::string& task) const { return task_dir(task) / kAliasesDir; }

fs::path RegistryLayout::alias_link(const std::string& task, const std::string& alias) const {
  check_alias_name(alias);
  return aliases_dir(task) / alias;
}

fs::path RegistryLayout::staging_root(const std::string& task) const { return task_dir(task) / kStagingDir; }

fs::path RegistryLayout::lock_file(const std::string& task) const { return task_dir(task) / kLockFile; }

namespace {

[[noreturn]] void listing_failed(const fs::path& dir, const std::error_code& ec) {
  throw Error(ErrorCode::io, "cannot list '" + dir.string() + "': " + ec.message());
}

}  // namespace

std::vector<std::string> RegistryLayout::scan_tasks() const {
  std::vector<std::string> tasks;
  std::error_code ec;
  fs::directory_iterator it(root_, ec);
  if (ec) listing_failed(root_, ec);
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!valid_registry_task(name)) continue;
    const auto type = it->symlink_status(ec).type();
    if (ec) listing_failed(root_, ec);
    if (type == fs::file_type::directory) tasks.push_back(name);
  }
  if (ec) listing_failed(root_, ec);
  std::sort(tasks.begin(), tasks.end());
  return tasks;
}

std::vector<int64_t> RegistryLayout::scan_versions(const std::string& task) const {
  const fs::path dir = task_dir(task);
  std::vector<int64_t> versions;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec == std::errc::no_such_file_or_directory) return versions;
  if (ec) listing_failed(dir, ec);
  for (; it != fs::directory_iterator(); it.increment(ec))
    if (auto v = parse_version_number(it->path().filename().string())) versions.push_back(*v);
  if (ec) listing_failed(dir, ec);
  std::sort(versions.begin(), versions.end());
  return versions;
}

}  // namespace trellis
