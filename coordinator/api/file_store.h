#pragma once
// FileStore: the coordinator's uploaded data files, content-addressed: <root>/<id[0:2]>/<id>,
// id = the sha256 of the bytes (64 lowercase hex digits). A file appears whole or not at all
// (written to a temporary name in <root>/.incoming, fsynced, renamed), so a crash never leaves
// a partial file under an id. Thread-safe (the filesystem is the only state).
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace trellis::api {

struct StoredFile {
  std::string id;
  std::uint64_t bytes = 0;
  bool created = false;  // false: the same bytes were already stored
};

class FileStore {
 public:
  // Creates `root` (and its parents) if missing; throws trellis::Error naming it on failure.
  explicit FileStore(std::filesystem::path root);

  StoredFile put(std::string_view bytes);
  // The stored file's path, or nullopt when no file has this id. Call valid_id first.
  std::optional<std::filesystem::path> find(const std::string& id) const;
  static bool valid_id(const std::string& id);  // 64 lowercase hex digits

  const std::filesystem::path& root() const { return root_; }

 private:
  std::filesystem::path path_of(const std::string& id) const;
  std::filesystem::path root_;
};


}  // namespace trellis::api
