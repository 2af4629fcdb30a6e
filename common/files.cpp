#include "common/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>
#include <set>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace trellis {
namespace fs = std::filesystem;

namespace {

std::string errno_text(int err) { return std::strerror(err); }

[[noreturn]] void fail(const std::string& what, const fs::path& path, int err) {
  throw Error(ErrorCode::io, what + " '" + path.string() + "': " + errno_text(err));
}

// Closes a descriptor on scope exit unless released.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

void fsync_path(const fs::path& path, int flags) {
  Fd fd(::open(path.c_str(), flags | O_CLOEXEC));
  if (fd.get() < 0) fail("cannot open", path, errno);
  if (::fsync(fd.get()) != 0) fail("cannot fsync", path, errno);
}

}  // namespace

namespace {

// Reads a whole file into any contiguous container of 1-byte elements.
template <typename Bytes>
Bytes read_whole_file(const fs::path& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) fail("cannot open", path, errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) fail("cannot stat", path, errno);
  if (S_ISDIR(st.st_mode)) throw Error(ErrorCode::io, "cannot read '" + path.string() + "': it is a directory");
  Bytes out(st.st_size > 0 ? static_cast<size_t>(st.st_size) : 0, typename Bytes::value_type{});
  size_t used = 0;
  for (;;) {
    if (used == out.size()) {  // at the size stat reported: probe for EOF before growing
      char probe;
      ssize_t n = ::read(fd.get(), &probe, 1);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) fail("cannot read", path, errno);
      if (n == 0) break;
      out.resize(std::max<size_t>(out.size() * 2, 1 << 16));  // the file grew, or had no size
      reinterpret_cast<char*>(out.data())[used++] = probe;
      continue;
    }
    ssize_t n = ::read(fd.get(), reinterpret_cast<char*>(out.data()) + used, out.size() - used);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("cannot read", path, errno);
    }
    if (n == 0) break;
    used += static_cast<size_t>(n);
  }
  out.resize(used);
  return out;
}

}  // namespace

std::string read_text_file(const fs::path& path) { return read_whole_file<std::string>(path); }

std::vector<std::byte> read_binary_file(const fs::path& path) { return read_whole_file<std::vector<std::byte>>(path); }

nlohmann::json parse_json_text(std::string_view text, const std::string& origin) {
  // A stack of open containers, to find keys repeated within one object and name their path.
  struct Frame {
    bool is_object;
    std::set<std::string> keys;
    std::string last_key;
  };
  std::vector<Frame> stack;
  std::string duplicate;  // first repeated key's dotted path
  auto callback = [&](int, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    using E = nlohmann::json::parse_event_t;
    switch (event) {
      case E::object_start: stack.push_back({true, {}, {}}); break;
      case E::array_start: stack.push_back({false, {}, {}}); break;
      case E::object_end:
      case E::array_end:
        if (!stack.empty()) stack.pop_back();
        break;
      case E::key: {
        if (stack.empty() || !stack.back().is_object) break;
        Frame& top = stack.back();
        top.last_key = parsed.get<std::string>();
        if (!top.keys.insert(top.last_key).second && duplicate.empty()) {
          for (const Frame& f : stack) {
            if (!duplicate.empty() && f.is_object) duplicate += '.';
            duplicate += f.is_object ? f.last_key : std::string("[]");
          }
        }
        break;
      }
      case E::value: break;
    }
    return true;
  };
  // nlohmann stops at a NUL byte as if the input ended there; JSON never holds a raw NUL.
  if (auto nul = text.find('\0'); nul != std::string_view::npos)
    throw Error(ErrorCode::invalid, origin + ": invalid JSON: NUL byte at offset " + std::to_string(nul));
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(text.begin(), text.end(), callback);
  } catch (const nlohmann::json::parse_error& e) {
    std::string what = e.what();
    if (auto pos = what.find("] "); what.rfind("[json.exception", 0) == 0 && pos != std::string::npos)
      what = what.substr(pos + 2);
    throw Error(ErrorCode::invalid, origin + ": invalid JSON: " + what);
  }
  if (!duplicate.empty()) throw Error(ErrorCode::invalid, origin + ": key '" + duplicate + "' appears more than once");
  return json;
}

nlohmann::json read_json_file(const fs::path& path) { return parse_json_text(read_text_file(path), path.string()); }

void write_file_durably(const fs::path& path, std::span<const std::byte> bytes) {
  Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (fd.get() < 0) fail("cannot create", path, errno);
  const auto* p = reinterpret_cast<const char*>(bytes.data());
  size_t left = bytes.size();
  while (left > 0) {
    ssize_t n = ::write(fd.get(), p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("cannot write", path, errno);
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  if (::fsync(fd.get()) != 0) fail("cannot fsync", path, errno);
  if (::close(fd.release()) != 0) fail("cannot close", path, errno);
}

void write_file_durably(const fs::path& path, std::string_view text) {
  write_file_durably(path, std::as_bytes(std::span(text.data(), text.size())));
}

void fsync_dir(const fs::path& dir) { fsync_path(dir, O_RDONLY | O_DIRECTORY); }

// ---- StagedDirectory ----

namespace {

fs::path parent_or_dot(const fs::path& p) {
  fs::path parent = p.parent_path();
  return parent.empty() ? fs::path(".") : parent;
}

bool exists_no_follow(const fs::path& p) {
  std::error_code ec;
  return fs::symlink_status(p, ec).type() != fs::file_type::not_found;
}

}  // namespace

int rename_no_replace(const fs::path& from, const fs::path& to) noexcept {
#ifdef RENAME_NOREPLACE
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return 0;
  if (errno != EINVAL && errno != ENOSYS) return errno;
#endif
  // Fallback: rename(2) replaces only an empty directory, never a non-empty one.
  if (exists_no_follow(to)) return EEXIST;
  return ::rename(from.c_str(), to.c_str()) == 0 ? 0 : errno;
}

StagedDirectory::StagedDirectory(fs::path final_dir) {
  final_dir = final_dir.lexically_normal();
  if (!final_dir.has_filename() && final_dir.has_parent_path()) final_dir = final_dir.parent_path();
  const std::string name = final_dir.filename().string();
  if (name.empty() || name == "." || name == "..")
    throw Error(ErrorCode::io, "cannot stage directory '" + final_dir.string() + "': it has no usable name");
  final_dir_ = final_dir;
  if (exists_no_follow(final_dir_))
    throw Error(ErrorCode::io, "cannot publish '" + final_dir_.string() + "': it already exists");
  const fs::path parent = parent_or_dot(final_dir_);
  std::error_code ec;
  fs::create_directories(parent, ec);
  if (ec) throw Error(ErrorCode::io, "cannot create directory '" + parent.string() + "': " + ec.message());

  std::random_device rd;
  for (int attempt = 0; attempt < 16; ++attempt) {
    char suffix[32];
    std::snprintf(suffix, sizeof suffix, "%ld-%08x", static_cast<long>(::getpid()), rd());
    fs::path candidate = parent / ("." + name + ".tmp-" + suffix);
    if (::mkdir(candidate.c_str(), 0755) == 0) {
      staging_dir_ = std::move(candidate);
      return;
    }
    if (errno != EEXIST) fail("cannot create staging directory", candidate, errno);
  }
  throw Error(ErrorCode::io, "cannot create a staging directory next to '" + final_dir_.string() + "'");
}

StagedDirectory::~StagedDirectory() {
  if (committed_ || staging_dir_.empty()) return;
  std::error_code ec;
  fs::remove_all(staging_dir_, ec);  // best effort; a leftover hidden dir is harmless
}

const fs::path& StagedDirectory::path() const { return committed_ ? final_dir_ : staging_dir_; }

void StagedDirectory::commit() {
  if (committed_) throw Error(ErrorCode::io, "staged directory '" + final_dir_.string() + "' is already committed");
  // Make every file and directory below the staging dir durable before it becomes visible.
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(staging_dir_, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    const auto type = it->symlink_status(ec).type();
    if (ec) break;
    if (type == fs::file_type::regular) fsync_path(it->path(), O_RDONLY);
    else if (type == fs::file_type::directory) fsync_dir(it->path());
  }
  if (ec) throw Error(ErrorCode::io, "cannot list '" + staging_dir_.string() + "': " + ec.message());
  fsync_dir(staging_dir_);

  if (int err = rename_no_replace(staging_dir_, final_dir_); err != 0) {
    fs::remove_all(staging_dir_, ec);
    staging_dir_.clear();
    if (err == EEXIST || err == ENOTEMPTY)
      throw Error(ErrorCode::io, "cannot publish '" + final_dir_.string() + "': it already exists");
    fail("cannot rename staging directory to", final_dir_, err);
  }
  committed_ = true;
  fsync_dir(parent_or_dot(final_dir_));
}

}  // namespace trellis
