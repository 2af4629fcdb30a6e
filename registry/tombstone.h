#pragma once
// The tombstone of a deleted version: <version dir>/tombstone.json, {"deleted": time, "reason": ...}.
// Its presence alone makes the version deleted (a tombstone that does not parse still counts).
// The version directory itself stays, so its number is never reused.
#include <filesystem>
#include <optional>
#include <string>

namespace trellis {

struct Tombstone {
  std::string deleted;  // UTC, ISO 8601
  std::string reason;   // free text from the admin; may be empty
};

bool has_tombstone(const std::filesystem::path& version_dir);
// nullopt if absent or unreadable.
std::optional<Tombstone> read_tombstone(const std::filesystem::path& version_dir);
// Writes it atomically (temporary file in the same directory, fsync, rename, fsync the directory).
// Replaces an existing tombstone. Throws trellis::Error.
void write_tombstone(const std::filesystem::path& version_dir, const Tombstone& tombstone);

}  // namespace trellis
