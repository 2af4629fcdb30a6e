#include "registry/artifact_registry.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include "registry/alias_store.h"
#include "registry/artifact_ref.h"
#include "registry/task_lock.h"
#include "registry/tombstone.h"
#include "registry/version_publisher.h"
#include "common/files.h"
#include "common/sha256.h"

namespace trellis {
namespace fs = std::filesystem;

namespace {

// Every entry point throws only coded Errors: anything else (a filesystem error from below, an
// unclassified Error) is io.
template <typename F>
auto at_boundary(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const Error& e) {
    if (e.code() != ErrorCode::internal) throw;
    throw Error(ErrorCode::io, e.what());
  } catch (const std::exception& e) {
    throw Error(ErrorCode::io, e.what());
  }
}

[[noreturn]] void fail(ErrorCode kind, const std::string& message) { throw Error(kind, message); }

template <typename Range, typename Show>
std::string listing(const Range& items, Show show) {
  std::string out;
  size_t n = 0;
  for (const auto& item : items) {
    if (n == 20) return out + ", ...";
    out += (n++ ? ", " : "") + show(item);
  }
  return n ? out : "none";
}

std::string version_label(const VersionRecord& r) {
  return std::to_string(r.version) + (r.state == VersionState::ok ? "" : " (" + to_string(r.state) + ")");
}

}  // namespace

ArtifactRegistry::ArtifactRegistry(RegistryOptions options) : options_(std::move(options)), layout_(options_.root) {
  if (!options_.clock) options_.clock = [] { return std::chrono::system_clock::now(); };
  at_boundary([&] {
    if (options_.create) {
      std::error_code ec;
      fs::create_directories(layout_.root(), ec);
      if (ec) fail(ErrorCode::io, "cannot create registry root '" + layout_.root().string() + "': " + ec.message());
      const int fd = ::open(layout_.marker().c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
      if (fd < 0 || ::fsync(fd) != 0 || ::close(fd) != 0)
        fail(ErrorCode::io, "cannot create '" + layout_.marker().string() + "': " + std::strerror(errno));
      fsync_dir(layout_.root());
    }
    check_root();
  });
}

void ArtifactRegistry::check_root() const {
  std::error_code ec;
  if (!fs::is_directory(layout_.root(), ec))
    fail(ErrorCode::io, "registry root '" + layout_.root().string() + "' is not a directory" +
                            (ec ? " (" + ec.message() + ")" : std::string()));
  if (!fs::is_regular_file(layout_.marker(), ec))
    fail(ErrorCode::io, "'" + layout_.root().string() + "' is not a registry root: '" + layout_.marker().string() +
                            "' is missing (is the shared filesystem mounted? create a registry with "
                            "RegistryOptions::create)");
}

std::vector<int64_t> ArtifactRegistry::existing_versions(const std::string& task) const {
  check_task_name(task);
  check_root();
  auto versions = layout_.scan_versions(task);
  if (versions.empty())
    fail(ErrorCode::not_found, "task '" + task + "' not found; tasks: " +
                                   listing(layout_.scan_tasks(), [](const std::string& t) { return t; }));
  return versions;
}

VersionRecord ArtifactRegistry::ok_version(const std::string& task, int64_t version) const {
  check_version_number(version);
  existing_versions(task);
  VersionRecord r = read_version(layout_, task, version);
  if (r.state == VersionState::deleted)
    fail(ErrorCode::not_found,
         task + "@" + std::to_string(version) + " was deleted" +
             (r.tombstone && !r.tombstone->deleted.empty() ? " at " + r.tombstone->deleted : std::string()));
  if (r.state == VersionState::broken)
    fail(ErrorCode::broken, task + "@" + std::to_string(version) + " is broken: " + r.problem);
  return r;
}

ResolvedVersion ArtifactRegistry::resolved(VersionRecord r) const {
  ResolvedVersion v;
  v.task = r.task;
  v.version = r.version;
  v.dir = r.dir;
  v.manifest_path = r.dir / kManifestFile;
  v.adapter_path = r.dir / kAdapterFile;
  v.manifest = std::move(*r.manifest);
  return v;
}

ResolvedVersion ArtifactRegistry::publish(const std::string& task, const fs::path& artifact_dir,
                                          const PublishLineage& lineage) {
  return at_boundary([&] {
    check_task_name(task);
    ArtifactManifest manifest;
    std::vector<std::byte> tensors;
    try {
      manifest = read_manifest(artifact_dir);
      tensors = read_binary_file(artifact_dir / kAdapterFile);
    } catch (const Error& e) {
      fail(ErrorCode::invalid, std::string("cannot publish: ") + e.what());
    }
    if (manifest.adapter_sha256 != sha256_hex(tensors))
      fail(ErrorCode::invalid, "cannot publish '" + artifact_dir.string() + "': " + kAdapterFile +
                                   " does not match the sha256 in its manifest (corrupt or modified)");
    return publish(task, std::move(manifest), tensors, lineage);
  });
}

ResolvedVersion ArtifactRegistry::publish(const std::string& task, ArtifactManifest manifest,
                                          std::span<const std::byte> tensors, const PublishLineage& lineage) {
  return at_boundary([&] {
    check_task_name(task);
    check_root();
    if (lineage.job_id) manifest.job_id = lineage.job_id;
    if (lineage.attempt) manifest.attempt = lineage.attempt;
    PublishSettings settings{options_.clock, options_.before_rename};
    ArtifactManifest published = publish_version(layout_, task, std::move(manifest), tensors, settings);
    VersionRecord r;
    r.task = task;
    r.version = *published.version;
    r.dir = layout_.version_dir(task, r.version);
    r.state = VersionState::ok;
    r.manifest = std::move(published);
    return resolved(std::move(r));
  });
}

ResolvedVersion ArtifactRegistry::resolve(std::string_view text) const {
  return at_boundary([&] {
    const ArtifactRef ref = ArtifactRef::parse(text);
    const auto versions = existing_versions(ref.task);
    switch (ref.kind) {
      case ArtifactRef::Kind::version: return resolved(ok_version(ref.task, ref.version));
      case ArtifactRef::Kind::alias: {
        const auto v = read_alias(layout_, ref.task, ref.alias);
        if (!v) {
          auto names = read_aliases(layout_, ref.task);
          fail(ErrorCode::not_found,
               "task '" + ref.task + "' has no alias '" + ref.alias + "'; its aliases: latest" +
                   (names.empty() ? "" : ", " + listing(names, [](const auto& kv) { return kv.first; })));
        }
        return resolved(ok_version(ref.task, *v));
      }
      case ArtifactRef::Kind::latest: break;
    }
    std::vector<VersionRecord> seen;
    for (auto it = versions.rbegin(); it != versions.rend(); ++it) {
      VersionRecord r = read_version(layout_, ref.task, *it);
      if (r.state == VersionState::ok) return resolved(std::move(r));
      seen.push_back(std::move(r));
    }
    fail(ErrorCode::not_found,
         "task '" + ref.task + "' has no version that can be served; its versions: " + listing(seen, version_label));
  });
}

std::vector<TaskSummary> ArtifactRegistry::list_tasks() const {
  return at_boundary([&] {
    check_root();
    std::vector<TaskSummary> out;
    for (const auto& task : layout_.scan_tasks()) {
      const auto versions = layout_.scan_versions(task);
      if (versions.empty()) continue;
      TaskSummary s;
      s.task = task;
      s.versions = static_cast<int64_t>(versions.size());
      for (auto it = versions.rbegin(); it != versions.rend(); ++it) {
        VersionRecord r = read_version(layout_, task, *it);
        if (r.state != VersionState::ok) continue;
        s.latest = r.version;
        s.metrics = r.manifest->metrics;
        break;
      }
      out.push_back(std::move(s));
    }
    return out;
  });
}

std::vector<VersionInfo> ArtifactRegistry::list_versions(const std::string& task) const {
  return at_boundary([&] {
    std::vector<VersionInfo> out;
    for (int64_t v : existing_versions(task)) {
      const VersionRecord r = read_version(layout_, task, v);
      VersionInfo info;
      info.version = v;
      info.state = r.state;
      info.problem = r.problem;
      if (r.manifest) {
        info.metrics = r.manifest->metrics;
        info.created = r.manifest->created;
        info.published = r.manifest->published;
        info.job_id = r.manifest->job_id;
        info.attempt = r.manifest->attempt;
      }
      if (r.tombstone) info.deleted = r.tombstone->deleted;
      out.push_back(std::move(info));
    }
    return out;
  });
}

ArtifactManifest ArtifactRegistry::manifest(const std::string& task, int64_t version) const {
  return at_boundary([&] { return std::move(*ok_version(task, version).manifest); });
}

std::map<std::string, int64_t> ArtifactRegistry::aliases(const std::string& task) const {
  return at_boundary([&] {
    existing_versions(task);
    return read_aliases(layout_, task);
  });
}

void ArtifactRegistry::set_alias(const std::string& task, const std::string& alias, int64_t version) {
  at_boundary([&] {
    check_alias_name(alias);
    check_version_number(version);
    const auto versions = existing_versions(task);
    TaskLock lock(layout_.lock_file(task));
    const std::string target = task + "@" + std::to_string(version);
    VersionRecord r;
    try {
      r = read_version(layout_, task, version);
    } catch (const Error& e) {
      if (e.code() != ErrorCode::not_found) throw;
      fail(ErrorCode::conflict, "cannot point alias '" + alias + "' at " + target + ": " + e.what());
    }
    if (r.state != VersionState::ok)
      fail(ErrorCode::conflict, "cannot point alias '" + alias + "' at " + target + ": it is " + to_string(r.state) +
                                    (r.problem.empty() ? "" : " (" + r.problem + ")"));
    write_alias(layout_, task, alias, version);
  });
}

void ArtifactRegistry::remove_alias(const std::string& task, const std::string& alias) {
  at_boundary([&] {
    check_alias_name(alias);
    existing_versions(task);
    TaskLock lock(layout_.lock_file(task));
    if (!trellis::remove_alias(layout_, task, alias)) {
      auto names = read_aliases(layout_, task);
      fail(ErrorCode::not_found, "task '" + task + "' has no alias '" + alias +
                                     "'; its aliases: " + listing(names, [](const auto& kv) { return kv.first; }));
    }
  });
}

bool ArtifactRegistry::delete_version(const std::string& task, int64_t version, const std::string& reason) {
  return at_boundary([&] {
    check_version_number(version);
    existing_versions(task);
    TaskLock lock(layout_.lock_file(task));
    const VersionRecord r = read_version(layout_, task, version);
    std::vector<std::string> pointing;
    for (const auto& [name, v] : read_aliases(layout_, task))
      if (v == version) pointing.push_back(name);
    if (!pointing.empty())
      fail(ErrorCode::conflict,
           "cannot delete " + task + "@" + std::to_string(version) +
               ": aliases point at it (move them first): " + listing(pointing, [](const std::string& s) { return s; }));
    if (fs::symlink_status(r.dir).type() != fs::file_type::directory)
      fail(ErrorCode::broken,
           "cannot delete " + task + "@" + std::to_string(version) + ": '" + r.dir.string() + "' is not a directory");
    const bool was_deleted = r.state == VersionState::deleted;
    if (!was_deleted) write_tombstone(r.dir, Tombstone{utc_iso8601(options_.clock()), reason});
    // The tombstone is durable: from here on the version is deleted, whatever happens next.
    const fs::path adapter = r.dir / kAdapterFile;
    if (::unlink(adapter.c_str()) != 0 && errno != ENOENT)
      fail(ErrorCode::io, "cannot remove '" + adapter.string() + "': " + std::strerror(errno));
    fsync_dir(r.dir);
    return !was_deleted;
  });
}

Verification ArtifactRegistry::verify(const std::string& task, int64_t version) const {
  return at_boundary([&] {
    const VersionRecord r = ok_version(task, version);
    Verification v;
    v.adapter_path = r.dir / kAdapterFile;
    v.expected_sha256 = r.manifest->adapter_sha256;
    v.actual_sha256 = sha256_file_hex(v.adapter_path);
    v.ok = v.actual_sha256 == v.expected_sha256;
    return v;
  });
}

SweepReport ArtifactRegistry::sweep_staging(std::chrono::system_clock::duration max_age) const {
  return at_boundary([&] {
    check_root();
    return trellis::sweep_staging(layout_, max_age, options_.clock());
  });
}

}  // namespace trellis
