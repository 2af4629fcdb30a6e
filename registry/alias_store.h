#pragma once
// Aliases of a task: <root>/<task>/aliases/<alias>, a symlink whose target is "../<N>" (so the
// shared filesystem can be browsed as aliases/prod/manifest.json). An alias is moved atomically:
// a new symlink under a unique temporary name, then rename(2) over the old one (atomic on local
// filesystems and on NFS, where the server performs it); a reader sees the old or the new target,
// never neither. `latest` is not stored (it is computed).
//
// These functions do not check what the alias points at, nor serialise writers: ArtifactRegistry
// does both under the task's lock. Reading is thread-safe.
#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace trellis {

class RegistryLayout;

// The version `alias` points at, or nullopt if the task has no such alias. An alias whose link is
// not of the form "../<N>" throws Error(broken).
std::optional<int64_t> read_alias(const RegistryLayout& layout, const std::string& task, const std::string& alias);
// Every alias of the task (none if it has no aliases directory). Throws Error(broken) if
// any alias is malformed, Error(io) if the directory cannot be listed.
std::map<std::string, int64_t> read_aliases(const RegistryLayout& layout, const std::string& task);
// Creates or moves `alias` to `version`, durably (the aliases directory is fsynced).
void write_alias(const RegistryLayout& layout, const std::string& task, const std::string& alias, int64_t version);
// Removes `alias`; returns false if it did not exist.
bool remove_alias(const RegistryLayout& layout, const std::string& task, const std::string& alias);

}  // namespace trellis
