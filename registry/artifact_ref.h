#pragma once
// Names in the registry and references to versions: `task@3`, `task@latest`, `task@prod`, `task`.
// Every name that becomes a path component is checked here first, so no reference can leave the
// registry root: task and alias names match [a-z0-9][a-z0-9._-]{0,63} (no '/', no leading '.'),
// versions are canonical decimals. Pure functions, thread-safe.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace trellis {

inline constexpr int64_t kMaxRegistryVersion = 999'999'999;
inline constexpr const char* kLatestAlias = "latest";  // reserved, automatic: the highest ok version

// [a-z0-9][a-z0-9._-]{0,63}, as for job spec tasks.
bool valid_registry_task(std::string_view name);
// [a-z0-9][a-z0-9._-]{0,63}, not "latest" (reserved) and not all digits (that would read as a version).
bool valid_alias_name(std::string_view name);
// A canonical version number: decimal digits, no sign, no leading zero, 1..kMaxRegistryVersion.
std::optional<int64_t> parse_version_number(std::string_view text);

// Throw Error(invalid) naming the bad value unless it is valid.
void check_task_name(std::string_view name);
void check_alias_name(std::string_view name);
void check_version_number(int64_t version);

struct ArtifactRef {
  enum class Kind { version, latest, alias };
  std::string task;
  Kind kind = Kind::latest;
  int64_t version = 0;  // when kind == version
  std::string alias;    // when kind == alias

  // "task" (= task@latest), "task@N", "task@latest", "task@<alias>". Throws Error(invalid).
  static ArtifactRef parse(std::string_view text);
  std::string to_string() const;
};

}  // namespace trellis
