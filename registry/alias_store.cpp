#include "registry/alias_store.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include "registry/artifact_ref.h"
#include "common/error.h"
#include "registry/registry_layout.h"
#include "common/unique_name.h"
#include "common/files.h"

namespace trellis {
namespace fs = std::filesystem;

namespace {

[[noreturn]] void io_error(const std::string& what, const fs::path& path, int err) {
  throw Error(ErrorCode::io, what + " '" + path.string() + "': " + std::strerror(err));
}

int64_t parse_target(const fs::path& link, const std::string& target) {
  const std::string prefix = "../";
  if (target.rfind(prefix, 0) == 0)
    if (auto v = parse_version_number(std::string_view(target).substr(prefix.size()))) return *v;
  throw Error(ErrorCode::broken,
              "alias '" + link.string() + "' points at '" + target + "', not at a version ('../<N>')");
}

}  // namespace

std::optional<int64_t> read_alias(const RegistryLayout& layout, const std::string& task, const std::string& alias) {
  const fs::path link = layout.alias_link(task, alias);
  std::error_code ec;
  const fs::path target = fs::read_symlink(link, ec);
  if (ec == std::errc::no_such_file_or_directory) return std::nullopt;
  if (ec == std::errc::invalid_argument)
    throw Error(ErrorCode::broken, "alias '" + link.string() + "' is not a symlink");
  if (ec) throw Error(ErrorCode::io, "cannot read alias '" + link.string() + "': " + ec.message());
  return parse_target(link, target.string());
}

std::map<std::string, int64_t> read_aliases(const RegistryLayout& layout, const std::string& task) {
  std::map<std::string, int64_t> out;
  const fs::path dir = layout.aliases_dir(task);
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec == std::errc::no_such_file_or_directory) return out;
  if (ec) throw Error(ErrorCode::io, "cannot list '" + dir.string() + "': " + ec.message());
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!valid_alias_name(name)) continue;  // temporaries (.tmp-*) and foreign files
    if (auto v = read_alias(layout, task, name)) out[name] = *v;
  }
  if (ec) throw Error(ErrorCode::io, "cannot list '" + dir.string() + "': " + ec.message());
  return out;
}

void write_alias(const RegistryLayout& layout, const std::string& task, const std::string& alias, int64_t version) {
  check_version_number(version);
  const fs::path link = layout.alias_link(task, alias);
  const fs::path dir = layout.aliases_dir(task);
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) io_error("cannot create", dir, errno);
  const fs::path tmp = dir / (".tmp-" + unique_name());
  const std::string target = "../" + std::to_string(version);
  if (::symlink(target.c_str(), tmp.c_str()) != 0) io_error("cannot create symlink", tmp, errno);
  if (::rename(tmp.c_str(), link.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    io_error("cannot rename alias into place:", link, err);
  }
  fsync_dir(dir);
}

bool remove_alias(const RegistryLayout& layout, const std::string& task, const std::string& alias) {
  const fs::path link = layout.alias_link(task, alias);
  if (::unlink(link.c_str()) != 0) {
    if (errno == ENOENT) return false;
    io_error("cannot remove alias", link, errno);
  }
  fsync_dir(layout.aliases_dir(task));
  return true;
}

}  // namespace trellis
