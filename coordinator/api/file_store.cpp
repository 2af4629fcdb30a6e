#include "coordinator/api/file_store.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>

#include "trainer/io/files.h"
#include "trainer/io/sha256.h"
#include "trainer/util/error.h"

namespace trellis::api {

namespace fs = std::filesystem;

FileStore::FileStore(fs::path root) : root_(std::move(root)) {
  std::error_code ec;
  fs::create_directories(root_ / ".incoming", ec);
  if (ec) throw Error("cannot create the file store " + root_.string() + ": " + ec.message());
}

bool FileStore::valid_id(const std::string& id) {
  if (id.size() != 64) return false;
  for (char c : id)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

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
  thread_local std::mt19937_64 rng{std::random_device{}()};
  char suffix[17];
  std::snprintf(suffix, sizeof suffix, "%016llx", static_cast<unsigned long long>(rng()));
  const fs::path temp = root_ / ".incoming" / (stored.id + "." + suffix);
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

std::optional<FileReference> parse_file_reference(const std::string& reference) {
  std::string rest = reference.rfind("file:", 0) == 0 ? reference.substr(5) : reference;
  FileReference ref;
  if (rest.size() > 64) {
    ref.extension = rest.substr(64);
    rest.resize(64);
    static const char* kFormats[] = {".jsonl", ".ndjson", ".csv", ".tsv", ".tab"};
    if (std::none_of(std::begin(kFormats), std::end(kFormats), [&](const char* f) { return ref.extension == f; }))
      return std::nullopt;
  }
  if (!FileStore::valid_id(rest)) return std::nullopt;
  ref.id = rest;
  return ref;
}

}  // namespace trellis::api
