#pragma once
// ArtifactRegistry: immutable, versioned adapter artifacts under a filesystem root, usually the
// cluster's shared filesystem (see registry_layout.h for the layout):
//   <root>/<task>/<N>/{adapter.safetensors, manifest.json}
//
// - publish: a new version N of a task (1, 2, ...; numbers only grow and are never reused), made
//   visible by one no-replace rename of a complete, fsynced staging directory, whose manifest
//   already carries N and the publish time (version_publisher.h has the protocol and why it is
//   safe across threads, processes and NFS clients). A crash leaves no visible partial version.
// - resolve: "task@N", "task@latest" (the highest ok version), "task@<alias>", "task" (= latest).
// - aliases: symlinks moved atomically (alias_store.h); set only to an ok version.
// - delete_version: explicit (an admin operation). Leaves the version directory with its manifest
//   and a tombstone.json, removes the tensors; refused while an alias points at the version.
//   Nothing is ever deleted because a listing failed or came back empty: listing failures are
//   errors, and the registry never deletes on its own.
// - states (version_record.h): ok, broken (listed with the problem, never served), deleted.
//
// Errors: Error with a kind (registry_error.h); not_found messages list what exists.
// Every entry point throws only Error.
//
// Contract:
// - Thread-safety: every method may be called concurrently from any number of threads, processes
//   and hosts sharing the root. publish takes no lock; set_alias, remove_alias and delete_version
//   take the task's lock (task_lock.h), which needs working POSIX locks on a shared filesystem.
// - Call order: none is required. Run sweep_staging once at start-up (of the coordinator), before
//   or concurrently with publishes, with a max_age larger than any publish takes.
// - Readers may also read <root>/<task>/<N>/ straight from the filesystem: a visible version is
//   complete and never modified (until an explicit deletion).
// - Ownership: the object holds only its options; it owns no open files between calls.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "registry/registry_layout.h"
#include "registry/staging_sweeper.h"
#include "registry/version_record.h"
#include "trainer/artifact/manifest.h"

namespace trellis {

struct RegistryOptions {
  std::filesystem::path root;
  // Create the root and its marker file (.trellis-registry) if missing. When false (the default),
  // both must exist: a root without its marker (an unmounted shared filesystem, a typo) is an
  // error, never an empty registry.
  bool create = false;
  // The time of publishes and sweeps; default std::chrono::system_clock::now.
  std::function<std::chrono::system_clock::time_point()> clock;
  // Fault injection for tests (version_publisher.h); empty in production.
  std::function<void(const std::filesystem::path& staging_dir, int64_t version)> before_rename;
};

// Lineage a publisher adds to the manifest; set fields replace the manifest's.
struct PublishLineage {
  std::optional<std::string> job_id;
  std::optional<int64_t> attempt;
};

// A version that can be served.
struct ResolvedVersion {
  std::string task;
  int64_t version = 0;
  std::filesystem::path dir;            // <root>/<task>/<N>
  std::filesystem::path manifest_path;  // dir / manifest.json
  std::filesystem::path adapter_path;   // dir / adapter.safetensors
  ArtifactManifest manifest;
};

struct TaskSummary {
  std::string task;
  int64_t versions = 0;                   // numbers taken, any state
  std::optional<int64_t> latest;          // the highest ok version, if any
  std::map<std::string, double> metrics;  // of the latest version
};

struct VersionInfo {
  int64_t version = 0;
  VersionState state = VersionState::broken;
  std::map<std::string, double> metrics;
  std::string created;  // when it was trained
  std::optional<std::string> published;
  std::optional<std::string> job_id;
  std::optional<int64_t> attempt;
  std::string problem;                 // broken: why
  std::optional<std::string> deleted;  // deleted: when (if the tombstone is readable)
};

struct Verification {
  bool ok = false;
  std::string expected_sha256;  // the manifest's
  std::string actual_sha256;    // of the file on disk
  std::filesystem::path adapter_path;
};

class ArtifactRegistry {
 public:
  // Throws Error(invalid) for an empty root, Error(io) if the root or its marker
  // is missing (and options.create is false) or cannot be created.
  explicit ArtifactRegistry(RegistryOptions options);
  ArtifactRegistry(const ArtifactRegistry&) = delete;
  ArtifactRegistry& operator=(const ArtifactRegistry&) = delete;

  const std::filesystem::path& root() const { return layout_.root(); }

  // Publishes the artifact directory `artifact_dir` (adapter.safetensors + manifest.json, as
  // `trellis train` writes it) as a new version of `task`. invalid: bad task name, the manifest
  // names another task or fails validation, the tensors are not safetensors or do not match the
  // manifest's sha256.
  ResolvedVersion publish(const std::string& task, const std::filesystem::path& artifact_dir,
                          const PublishLineage& lineage = {});
  // Publishes a manifest and the bytes of adapter.safetensors (an empty manifest.adapter_sha256
  // is filled in; a different one is invalid).
  ResolvedVersion publish(const std::string& task, ArtifactManifest manifest, std::span<const std::byte> tensors,
                          const PublishLineage& lineage = {});

  // An ok version: not_found (unknown task, version or alias; a deleted version), broken.
  ResolvedVersion resolve(std::string_view ref) const;
  // Tasks that hold at least one version number, sorted by name.
  std::vector<TaskSummary> list_tasks() const;
  // Every version of a task, ascending, in any state. not_found if the task has none.
  std::vector<VersionInfo> list_versions(const std::string& task) const;
  // The manifest of an ok version (not_found, broken otherwise).
  ArtifactManifest manifest(const std::string& task, int64_t version) const;
  // The task's aliases (without `latest`). not_found if the task has no versions.
  std::map<std::string, int64_t> aliases(const std::string& task) const;

  // Creates or moves an alias. invalid (bad or reserved name), not_found (unknown task),
  // conflict (the version is missing, deleted or broken).
  void set_alias(const std::string& task, const std::string& alias, int64_t version);
  // Removes an alias; not_found if it does not exist.
  void remove_alias(const std::string& task, const std::string& alias);
  // Deletes a version (an admin operation): tombstone, then the tensors are removed. conflict if
  // an alias points at it (the message names them); not_found if it does not exist. Deleting a
  // deleted version finishes an interrupted deletion and returns false; true otherwise.
  bool delete_version(const std::string& task, int64_t version, const std::string& reason);

  // Recomputes the sha256 of an ok version's adapter.safetensors and compares it with the manifest.
  Verification verify(const std::string& task, int64_t version) const;

  // Removes staging leftovers older than max_age (staging_sweeper.h).
  SweepReport sweep_staging(std::chrono::system_clock::duration max_age = std::chrono::hours(1)) const;

 private:
  void check_root() const;
  std::vector<int64_t> existing_versions(const std::string& task) const;  // not_found if none
  VersionRecord ok_version(const std::string& task, int64_t version) const;
  ResolvedVersion resolved(VersionRecord record) const;

  RegistryOptions options_;
  RegistryLayout layout_;
};

}  // namespace trellis
