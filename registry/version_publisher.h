#pragma once
// Publishing a new version of a task: the claim protocol.
//
//   1. Validate: the tensors parse as safetensors, their sha256 equals the manifest's (or fills
//      it in when empty), the manifest names the task and passes ArtifactManifest::from_json.
//   2. Stage: mkdir <root>/<task>/.staging/<host>-<pid>-<random>/ (exclusive), write
//      adapter.safetensors (fsynced).
//   3. Claim: N = 1 + the highest number any entry of <root>/<task>/ holds. Write manifest.json
//      with version N and the publish time (fsynced), fsync the staging directory, then rename the
//      staging directory to <root>/<task>/<N> without replacing anything. If N is taken
//      (EEXIST/ENOTEMPTY: another publisher won it), rewrite the manifest for the next free
//      number and retry. On success fsync <root>/<task> and .staging.
//
// Why it is correct on one host and on NFS: the rename is the only step that makes a version
// visible, and it succeeds for exactly one publisher per N, because the target never exists as an
// empty directory (a version directory is only ever created by this rename, full, and deletion
// keeps it non-empty): renameat2(RENAME_NOREPLACE) refuses an existing target, and where it is
// not supported (NFS), rename(2) of a directory onto a non-empty directory fails with ENOTEMPTY
// or EEXIST on the server, whatever the client's caches say. Stale client caches can only make a
// publisher try a taken number and retry. The manifest is final before the rename, so a visible
// version is never modified. Numbers only grow: a deleted version keeps its directory. A crash
// before the rename leaves only the staging directory (invisible; swept later); a crash after it
// leaves a complete version. If an NFS retransmission makes a successful rename report ENOENT,
// the publisher recognises its own manifest at <N> and reports success.
//
// Thread-safe and process-safe; takes no lock.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <span>
#include <string>

#include "trainer/artifact/manifest.h"

namespace trellis {

class RegistryLayout;

struct PublishSettings {
  std::function<std::chrono::system_clock::time_point()> clock;  // required
  // Fault injection for tests: called with the complete, fsynced staging directory and the number
  // it is about to claim, before each rename attempt. Empty in production.
  std::function<void(const std::filesystem::path& staging_dir, int64_t version)> before_rename;
  int max_attempts = 1000;  // claims lost to other publishers before giving up (Error conflict)
};

// Publishes `tensors` (the bytes of adapter.safetensors) with `manifest` as a new version of
// `task` and returns the manifest as published (version and published set). The root must exist.
// Throws Error: invalid (bad task name, manifest or tensors), conflict (max_attempts
// claims lost), io (filesystem). Nothing is left visible on failure.
ArtifactManifest publish_version(const RegistryLayout& layout, const std::string& task, ArtifactManifest manifest,
                                 std::span<const std::byte> tensors, const PublishSettings& settings);

}  // namespace trellis
