#pragma once
// FileStore: the coordinator's uploaded data files, content-addressed: <root>/<id[0:2]>/<id>,
// id = the sha256 of the bytes (64 lowercase hex digits). A file appears whole or not at all
// (written to a temporary name in <root>/.incoming, fsynced, renamed), so a crash never leaves
// a partial file under an id.
//
// Retention: a file's modification time is its last use (upload, re-upload, or a submit that
// references it: pin()). sweep() and remove() delete only files unused since a time the caller
// takes *before* it lists the files live jobs need (`keep`), and never pinned ones. A submit pins
// its files from validation until its job is stored (and releasing a pin marks the file used), so
// a job is never stored with a deleted file: pin() fails (the file is gone), or the file stays
// (pinned, or used after that time).
// Thread-safety: every member may be called from any thread.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>

namespace trellis::api {

struct StoredFile {
  std::string id;
  std::uint64_t bytes = 0;
  bool created = false;  // false: the same bytes were already stored
};

struct SweepResult {
  std::uint64_t files_removed = 0;
  std::uint64_t bytes_removed = 0;
  std::uint64_t files_kept = 0;  // unused long enough, but kept (live jobs' files, pinned)
};

enum class RemoveResult { removed, not_found, pinned };

class FileStore {
 public:
  // Holds a file against removal until destroyed (move-only). Outlives nothing: the store must
  // outlive its pins.
  class Pin {
   public:
    Pin(Pin&& other) noexcept : store_(other.store_), id_(std::move(other.id_)) { other.store_ = nullptr; }
    Pin& operator=(Pin&&) = delete;
    ~Pin();
    const std::string& id() const { return id_; }

   private:
    friend class FileStore;
    Pin(FileStore* store, std::string id) : store_(store), id_(std::move(id)) {}
    FileStore* store_;
    std::string id_;
  };

  // Creates `root` (and its parents) if missing; throws trellis::Error naming it on failure.
  explicit FileStore(std::filesystem::path root);

  StoredFile put(std::string_view bytes);
  // The stored file's path, or nullopt when no file has this id. Call valid_id first.
  std::optional<std::filesystem::path> find(const std::string& id) const;
  static bool valid_id(const std::string& id);  // 64 lowercase hex digits
  // Pins a stored file and marks it used now; nullopt when no file has this id.
  std::optional<Pin> pin(const std::string& id);
  using Clock = std::filesystem::file_time_type::clock;
  // Removes the files last used before `unused_since` (and temporary files of uploads that died
  // an hour before it), except those in `keep` and pinned ones.
  SweepResult sweep(Clock::time_point unused_since, const std::set<std::string>& keep);
  // Removes one file (an admin's request) unless pinned or used at or after `unused_since`
  // (both: RemoveResult::pinned, "in use"). Throws trellis::Error when the file cannot be removed.
  RemoveResult remove(const std::string& id, Clock::time_point unused_since);

  const std::filesystem::path& root() const { return root_; }

 private:
  std::filesystem::path path_of(const std::string& id) const;
  void unpin(const std::string& id);
  std::filesystem::path root_;
  std::mutex mutex_;                 // guards pins_, and each use-or-remove decision
  std::map<std::string, int> pins_;  // id -> pins held
};

}  // namespace trellis::api
