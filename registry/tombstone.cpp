#include "registry/tombstone.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include <nlohmann/json.hpp>

#include "registry/registry_layout.h"
#include "common/files.h"
#include "common/error.h"

namespace trellis {
namespace fs = std::filesystem;

bool has_tombstone(const fs::path& version_dir) {
  std::error_code ec;
  return fs::symlink_status(version_dir / RegistryLayout::kTombstoneFile, ec).type() != fs::file_type::not_found;
}

std::optional<Tombstone> read_tombstone(const fs::path& version_dir) {
  try {
    const auto path = version_dir / RegistryLayout::kTombstoneFile;
    const nlohmann::json j = read_json_file(path);
    Tombstone t;
    if (j.is_object() && j.contains("deleted") && j["deleted"].is_string()) t.deleted = j["deleted"];
    if (j.is_object() && j.contains("reason") && j["reason"].is_string()) t.reason = j["reason"];
    return t;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

void write_tombstone(const fs::path& version_dir, const Tombstone& tombstone) {
  const nlohmann::json j = {{"deleted", tombstone.deleted}, {"reason", tombstone.reason}};
  const fs::path final_path = version_dir / RegistryLayout::kTombstoneFile;
  const fs::path tmp = version_dir /
                       (std::string(".") + RegistryLayout::kTombstoneFile + ".tmp-" + std::to_string(::getpid()));
  write_file_durably(tmp, j.dump(2) + "\n");
  if (::rename(tmp.c_str(), final_path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw Error(ErrorCode::io,
                "cannot rename '" + tmp.string() + "' to '" + final_path.string() + "': " + std::strerror(err));
  }
  fsync_dir(version_dir);
}

}  // namespace trellis
