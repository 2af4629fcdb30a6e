#include "registry/version_publisher.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <system_error>
#include <vector>

#include <nlohmann/json.hpp>

#include "registry/artifact_ref.h"
#include "common/error.h"
#include "registry/registry_layout.h"
#include "common/unique_name.h"
#include "common/files.h"
#include "trainer/io/safetensors.h"
#include "common/sha256.h"

namespace trellis {
namespace fs = std::filesystem;

namespace {

[[noreturn]] void invalid(const std::string& message) { throw Error(ErrorCode::invalid, message); }

void make_dir(const fs::path& dir) {
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
    throw Error(ErrorCode::io, "cannot create '" + dir.string() + "': " + std::strerror(errno));
}

// Checks the inputs and returns the manifest to publish (adapter_sha256 filled in).
ArtifactManifest validated(const std::string& task, ArtifactManifest manifest, std::span<const std::byte> tensors) {
  check_task_name(task);
  const std::string origin = "publish " + task;
  if (manifest.task != task) invalid(origin + ": the manifest is for task '" + manifest.task + "'");
  try {
    SafetensorsFile::parse(std::vector<std::byte>(tensors.begin(), tensors.end()), origin + " " + kAdapterFile);
  } catch (const Error& e) {
    invalid(e.what());
  }
  const std::string sha = sha256_hex(tensors);
  if (manifest.adapter_sha256.empty()) manifest.adapter_sha256 = sha;
  if (manifest.adapter_sha256 != sha)
    invalid(origin + ": the tensors' sha256 " + sha + " differs from the manifest's " + manifest.adapter_sha256);
  manifest.version = 1;  // placeholders, so that validation sees the published shape
  manifest.published = "";
  try {
    ArtifactManifest::from_json(manifest.to_json(), origin + " manifest");
  } catch (const Error& e) {
    invalid(e.what());
  }
  return manifest;
}

// Removes the staging directory unless it was renamed into place.
class StagingGuard {
 public:
  explicit StagingGuard(fs::path dir) : dir_(std::move(dir)) {}
  ~StagingGuard() {
    if (dir_.empty()) return;
    std::error_code ec;
    fs::remove_all(dir_, ec);  // best effort: sweep_staging removes what remains
  }
  StagingGuard(const StagingGuard&) = delete;
  StagingGuard& operator=(const StagingGuard&) = delete;
  void release() { dir_.clear(); }

 private:
  fs::path dir_;
};

bool exists_no_follow(const fs::path& p) {
  std::error_code ec;
  return fs::symlink_status(p, ec).type() != fs::file_type::not_found;
}

// After a rename that reported ENOENT: did it happen anyway (an NFS retransmission)?
bool renamed_anyway(const fs::path& staging, const fs::path& target, const std::string& manifest_text) {
  if (exists_no_follow(staging)) return false;
  try {
    return read_text_file(target / kManifestFile) == manifest_text;
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace

ArtifactManifest publish_version(const RegistryLayout& layout, const std::string& task, ArtifactManifest manifest,
                                 std::span<const std::byte> tensors, const PublishSettings& settings) {
  manifest = validated(task, std::move(manifest), tensors);
  const fs::path task_dir = layout.task_dir(task);
  const fs::path staging_root = layout.staging_root(task);
  make_dir(task_dir);
  make_dir(staging_root);
  fs::path staging;
  for (int i = 0; staging.empty(); ++i) {
    const fs::path candidate = staging_root / unique_name();
    if (::mkdir(candidate.c_str(), 0755) == 0) staging = candidate;
    else if (errno != EEXIST || i == 16)
      throw Error(ErrorCode::io, "cannot create '" + candidate.string() + "': " + std::strerror(errno));
  }
  StagingGuard guard(staging);
  try {
    write_file_durably(staging / kAdapterFile, tensors);
  } catch (const Error& e) {
    throw Error(ErrorCode::io, e.what());
  }

  int64_t next = 1;
  for (int attempt = 0; attempt < settings.max_attempts; ++attempt) {
    const auto taken = layout.scan_versions(task);
    if (!taken.empty()) next = std::max(next, taken.back() + 1);
    if (next > kMaxRegistryVersion) throw Error(ErrorCode::conflict, "task '" + task + "' has no version number left");
    manifest.version = next;
    manifest.published = utc_iso8601(settings.clock());
    const std::string text = manifest.to_json().dump(2) + "\n";
    const fs::path target = layout.version_dir(task, next);
    try {
      write_file_durably(staging / kManifestFile, text);
      fsync_dir(staging);
    } catch (const Error& e) {
      throw Error(ErrorCode::io, e.what());
    }
    if (settings.before_rename) settings.before_rename(staging, next);
    const int err = rename_no_replace(staging, target);
    if (err == 0 || (err == ENOENT && renamed_anyway(staging, target, text))) {
      guard.release();
      // The version is visible now: report success even if these fsyncs fail, so that a caller
      // never retries (and duplicates) a publish that took place. On NFS the server has already
      // committed the rename before answering it.
      try {
        fsync_dir(task_dir);
        fsync_dir(staging_root);
      } catch (const Error&) {
      }
      return manifest;
    }
    if (err != EEXIST && err != ENOTEMPTY && err != ENOTDIR)
      throw Error(ErrorCode::io,
                  "cannot rename '" + staging.string() + "' to '" + target.string() + "': " + std::strerror(err));
    ++next;  // taken by another publisher (or anything else): try the next number
  }
  throw Error(ErrorCode::conflict, "could not claim a version of task '" + task + "' in " +
                                       std::to_string(settings.max_attempts) + " attempts");
}

}  // namespace trellis
