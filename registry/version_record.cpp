#include "registry/version_record.h"

#include <algorithm>
#include <system_error>
#include <vector>

#include "common/error.h"
#include "registry/registry_layout.h"
#include "common/files.h"

namespace trellis {
namespace fs = std::filesystem;

std::string to_string(VersionState state) {
  switch (state) {
    case VersionState::ok: return "ok";
    case VersionState::broken: return "broken";
    case VersionState::deleted: return "deleted";
  }
  return "unknown";
}

namespace {

std::string list_numbers(const std::vector<int64_t>& versions) {
  if (versions.empty()) return "none";
  std::string out;
  const size_t shown = std::min<size_t>(versions.size(), 20);
  for (size_t i = 0; i < shown; ++i) out += (i ? ", " : "") + std::to_string(versions[versions.size() - shown + i]);
  return versions.size() > shown ? "..., " + out : out;
}

}  // namespace

VersionRecord read_version(const RegistryLayout& layout, const std::string& task, int64_t version) {
  VersionRecord r;
  r.task = task;
  r.version = version;
  r.dir = layout.version_dir(task, version);
  std::error_code ec;
  const auto type = fs::symlink_status(r.dir, ec).type();
  if (type == fs::file_type::not_found) {
    const auto versions = layout.scan_versions(task);
    throw Error(ErrorCode::not_found, "task '" + task + "' has no version " + std::to_string(version) +
                                          "; its versions: " + list_numbers(versions));
  }
  if (ec) throw Error(ErrorCode::io, "cannot stat '" + r.dir.string() + "': " + ec.message());
  if (type != fs::file_type::directory) {
    r.problem = r.dir.string() + " is not a directory";
    return r;
  }
  const bool deleted = has_tombstone(r.dir);
  try {
    // Only files of the version itself: a symlink could lead out of the root.
    if (fs::symlink_status(r.dir / kManifestFile, ec).type() != fs::file_type::regular)
      throw Error(ErrorCode::broken, (r.dir / kManifestFile).string() + ": missing or not a regular file");
    ArtifactManifest m =
        ArtifactManifest::from_json(read_json_file(r.dir / kManifestFile), (r.dir / kManifestFile).string());
    if (m.task != task)
      throw Error(ErrorCode::broken,
                  (r.dir / kManifestFile).string() + ": names task '" + m.task + "', not '" + task + "'");
    if (m.version != version)
      throw Error(ErrorCode::broken, (r.dir / kManifestFile).string() + ": names version " +
                                         (m.version ? std::to_string(*m.version) : std::string("(none)")) + ", not " +
                                         std::to_string(version));
    r.manifest = std::move(m);
  } catch (const std::exception& e) {
    r.problem = e.what();
  }
  if (deleted) {
    r.state = VersionState::deleted;
    r.problem.clear();
    r.tombstone = read_tombstone(r.dir);
    return r;
  }
  if (r.problem.empty()) {
    const auto adapter = r.dir / kAdapterFile;
    if (fs::symlink_status(adapter, ec).type() != fs::file_type::regular)
      r.problem = adapter.string() + ": missing or not a regular file";
  }
  if (r.problem.empty()) r.state = VersionState::ok;
  else r.manifest.reset();
  return r;
}

}  // namespace trellis
