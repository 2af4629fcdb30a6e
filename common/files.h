#pragma once
// Small, careful file operations: whole-file reads, strict JSON documents, durable writes and
// atomic publication of a directory. POSIX only. Every failure throws trellis::Error naming the
// path and the system's reason.
#include <cstddef>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace trellis {

// The whole file (no newline translation). Errors name the file and the system's reason.
std::string read_text_file(const std::filesystem::path& path);
std::vector<std::byte> read_binary_file(const std::filesystem::path& path);

// Parses one JSON document. Stricter than nlohmann's default: a key that appears twice in one
// object is an error (nlohmann would keep the last). Errors read
// "<origin>: invalid JSON: parse error at line L, column C: ..." or
// "<origin>: key 'a.b' appears more than once".
nlohmann::json parse_json_text(std::string_view text, const std::string& origin);
// read_text_file + parse_json_text with the path as origin.
nlohmann::json read_json_file(const std::filesystem::path& path);

// Creates or truncates `path`, writes all bytes and fsyncs the file before returning. Not atomic:
// a crash midway can leave a partial file (use StagedDirectory or a rename for atomicity).
// The directory entry itself is durable only after fsync_dir(path.parent_path()).
void write_file_durably(const std::filesystem::path& path, std::span<const std::byte> bytes);
void write_file_durably(const std::filesystem::path& path, std::string_view text);

// fsyncs a directory, making the creation, removal or renaming of its entries durable.
void fsync_dir(const std::filesystem::path& dir);

// Renames the directory `from` to `to` unless `to` exists. Returns 0, or the errno: EEXIST or
// ENOTEMPTY when `to` exists. Uses renameat2(RENAME_NOREPLACE) where the filesystem supports it;
// elsewhere (e.g. NFS) an existence check, then rename(2), which the server runs atomically and
// which never replaces a non-empty directory (it can replace an empty one that appeared in
// between). Meant for directories: for plain files the fallback would replace a file that
// appeared in between.
int rename_no_replace(const std::filesystem::path& from, const std::filesystem::path& to) noexcept;

// Atomic publication of a directory that must never be seen half-written:
//   StagedDirectory staged(root / "task" / "3");   // creates root/task/.3.tmp-<pid>-<random>/
//   write_file_durably(staged.path() / "a", ...);  // fill it
//   staged.commit();                               // fsync all, rename to root/task/3, fsync parent
// The parent of `final_dir` is created if missing. If `final_dir` already exists (at construction
// or at commit), it throws and never overwrites it; the staging directory is then removed.
// The destructor removes an uncommitted staging directory. Not thread-safe; neither copyable
// nor movable. The staging directory lives next to the target, so the rename stays on one
// filesystem. Where the filesystem lacks RENAME_NOREPLACE (e.g. NFS), commit falls back to a
// plain rename after an existence check, which can at worst replace an *empty* directory that
// appeared in between; a non-empty published directory is never replaced.
class StagedDirectory {
 public:
  explicit StagedDirectory(std::filesystem::path final_dir);
  ~StagedDirectory();
  StagedDirectory(const StagedDirectory&) = delete;
  StagedDirectory& operator=(const StagedDirectory&) = delete;

  // The staging directory to fill before commit(); after commit(), the final directory.
  const std::filesystem::path& path() const;
  const std::filesystem::path& final_path() const { return final_dir_; }
  bool committed() const { return committed_; }

  // Makes the contents durable and publishes them under final_dir. Call at most once.
  void commit();

 private:
  std::filesystem::path final_dir_;
  std::filesystem::path staging_dir_;
  bool committed_ = false;
};

}  // namespace trellis
