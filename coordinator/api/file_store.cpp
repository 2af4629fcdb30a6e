#include "coordinator/api/file_store.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "common/unique_name.h"
#include "common/files.h"
#include "common/sha256.h"
#include "trainer/data/data_reference.h"
#include "common/error.h"

namespace trellis::api {

namespace fs = std::filesystem;

FileStore::FileStore(fs::path root) : root_(std::move(root)) {
  std::error_code ec;
  fs::create_directories(root_ / ".incoming", ec);
  if (ec) throw Error(ErrorCode::io, "cannot create the file store " + root_.string() + ": " + ec.message());
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

namespace {

// Marks a file used now (its modification time). Errors are ignored: a file whose time cannot be
// set is only swept earlier than it would be (and never while pinned or kept).
void mark_used(const fs::path& p) {
  std::error_code ec;
  fs::last_write_time(p, fs::file_time_type::clock::now(), ec);
}

}  // namespace

FileStore::Pin::~Pin() {
  if (store_) store_->unpin(id_);
}

void FileStore::unpin(const std::string& id) {
  std::lock_guard lock(mutex_);
  // Used until now: the job its submit stored may be missing from a listing taken before this.
  mark_used(path_of(id));
  if (auto it = pins_.find(id); it != pins_.end() && --it->second == 0) pins_.erase(it);
}

std::optional<FileStore::Pin> FileStore::pin(const std::string& id) {
  if (!valid_id(id)) return std::nullopt;
  const fs::path p = path_of(id);
  std::lock_guard lock(mutex_);
  std::error_code ec;
  if (!fs::is_regular_file(p, ec)) return std::nullopt;
  mark_used(p);
  ++pins_[id];
  return Pin(this, id);
}

SweepResult FileStore::sweep(Clock::time_point unused_since, const std::set<std::string>& keep) {
  const auto cutoff = unused_since;
  SweepResult result;
  std::error_code ec;
  // Candidates are listed without the lock; each is decided again under it (it may be in use now).
  std::vector<fs::path> candidates;
  for (const auto& dir : fs::directory_iterator(root_, ec)) {
    const std::string name = dir.path().filename().string();
    if (name.size() != 2 || !dir.is_directory(ec)) continue;
    std::error_code walk_ec;
    for (const auto& file : fs::directory_iterator(dir.path(), walk_ec)) {
      const std::string id = file.path().filename().string();
      if (!valid_id(id) || id.compare(0, 2, name) != 0) continue;
      std::error_code time_ec;
      if (fs::last_write_time(file.path(), time_ec) >= cutoff || time_ec) continue;
      if (keep.count(id)) {
        ++result.files_kept;
        continue;
      }
      candidates.push_back(file.path());
    }
  }
  for (const auto& p : candidates) {
    const std::string id = p.filename().string();
    std::lock_guard lock(mutex_);
    std::error_code file_ec;
    if (pins_.count(id) || fs::last_write_time(p, file_ec) >= cutoff || file_ec) {
      ++result.files_kept;
      continue;
    }
    std::error_code size_ec, remove_ec;
    const auto bytes = fs::file_size(p, size_ec);
    if (fs::remove(p, remove_ec)) {
      ++result.files_removed;
      result.bytes_removed += size_ec ? 0 : bytes;
    }
  }
  // Temporary files of uploads that died (a crash between write and rename); an upload in
  // progress is never this old (its body is written at once).
  const auto incoming_cutoff = unused_since - std::chrono::hours(1);
  for (const auto& file : fs::directory_iterator(root_ / ".incoming", ec)) {
    std::error_code file_ec;
    if (fs::last_write_time(file.path(), file_ec) < incoming_cutoff && !file_ec) fs::remove(file.path(), file_ec);
  }
  return result;
}

RemoveResult FileStore::remove(const std::string& id, Clock::time_point unused_since) {
  if (!valid_id(id)) return RemoveResult::not_found;
  const fs::path p = path_of(id);
  std::lock_guard lock(mutex_);
  std::error_code ec;
  if (!fs::is_regular_file(p, ec)) return RemoveResult::not_found;
  if (pins_.count(id) || fs::last_write_time(p, ec) >= unused_since) return RemoveResult::pinned;
  if (fs::remove(p, ec)) return RemoveResult::removed;
  if (ec) throw Error(ErrorCode::io, "cannot remove " + p.string() + ": " + ec.message());
  return RemoveResult::not_found;
}

StoredFile FileStore::put(std::string_view bytes) {
  StoredFile stored{sha256_hex(bytes), bytes.size(), false};
  const fs::path final_path = path_of(stored.id);
  std::error_code ec;
  {
    std::lock_guard lock(mutex_);  // a sweep must not remove it between this check and its use
    if (fs::is_regular_file(final_path, ec) && fs::file_size(final_path, ec) == bytes.size()) {
      mark_used(final_path);
      return stored;
    }
  }
  const fs::path temp = root_ / ".incoming" / (stored.id + "." + unique_name());
  write_file_durably(temp, bytes);
  fs::create_directories(final_path.parent_path(), ec);
  if (ec) throw Error(ErrorCode::io, "cannot create " + final_path.parent_path().string() + ": " + ec.message());
  // Same id, same bytes: replacing a concurrent writer's identical file is harmless.
  if (std::rename(temp.c_str(), final_path.c_str()) != 0) {
    const std::string reason = std::strerror(errno);
    fs::remove(temp, ec);
    throw Error(ErrorCode::io, "cannot store " + final_path.string() + ": " + reason);
  }
  fsync_dir(final_path.parent_path());
  stored.created = true;
  return stored;
}

}  // namespace trellis::api
