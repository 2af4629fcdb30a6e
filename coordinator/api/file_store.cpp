#include "coordinator/api/file_store.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "coordinator/registry/unique_name.h"
#include "trainer/io/files.h"
#include "trainer/io/sha256.h"
#include "trainer/spec/data_reference.h"
#include "trainer/util/error.h"

namespace trellis::api {

namespace fs = std::filesystem;

FileStore::FileStore(fs::path root) : root_(std::move(root)) {
  std::error_code ec;
  fs::create_directories(root_ / ".incoming", ec);
  if (ec) throw Error("cannot create the file store " + root_.string() + ": " + ec.message());
}

bool FileStore::valid_id(const std::string& id) { return is_sha256_hex(id); }

fs::path FileStore::path_of(const std::string& id) const { return root_ / id.substr(0, 2) / id; }

std::optional<fs::path> FileStore::find(const std::string& id) const {
  if (!valid_id(id)) return std::nullopt;
  fs::path p = path_of(id);
  std::error_code ec;
  if (!fs::is_regular_file(p, ec)) return std::nullopt;
  return p;
}

StoredFile FileStore::put(std::string_view bytes) {
  StoredFile stored{sha256_hex(bytes), bytes.size(), false};
  const fs::path final_path = path_of(stored.id);
  std::error_code ec;
  if (fs::is_regular_file(final_path, ec) && fs::file_size(final_path, ec) == bytes.size()) return stored;
  const fs::path temp = root_ / ".incoming" / (stored.id + "." + unique_name());
  write_file_durably(temp, bytes);
  fs::create_directories(final_path.parent_path(), ec);
  if (ec) throw Error("cannot create " + final_path.parent_path().string() + ": " + ec.message());
  // Same id, same bytes: replacing a concurrent writer's identical file is harmless.
  if (std::rename(temp.c_str(), final_path.c_str()) != 0) {
    const std::string reason = std::strerror(errno);
    fs::remove(temp, ec);
    throw Error("cannot store " + final_path.string() + ": " + reason);
  }
  fsync_dir(final_path.parent_path());
  stored.created = true;
  return stored;
}

}  // namespace trellis::api
