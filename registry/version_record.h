#pragma once
// What one version number of a task holds, read from its directory:
//   ok       manifest.json parses, names this task and version, adapter.safetensors is a file
//   broken   anything else (the problem says what): listed, never served
//   deleted  tombstone.json is present (the manifest is kept for lineage when it still parses)
// Reading never modifies anything. Thread-safe.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "registry/tombstone.h"
#include "trainer/artifact/manifest.h"

namespace trellis {

class RegistryLayout;

enum class VersionState { ok, broken, deleted };
std::string to_string(VersionState state);  // "ok", "broken", "deleted"

struct VersionRecord {
  std::string task;
  int64_t version = 0;
  VersionState state = VersionState::broken;
  std::filesystem::path dir;
  std::optional<ArtifactManifest> manifest;  // always set when ok
  std::string problem;                       // why it is broken (empty otherwise)
  std::optional<Tombstone> tombstone;        // when deleted and the tombstone is readable
};

// Reads version `version` of `task`. Throws Error(not_found) if nothing holds that number
// (the message lists the task's versions), Error(invalid) for bad names.
VersionRecord read_version(const RegistryLayout& layout, const std::string& task, int64_t version);

}  // namespace trellis
