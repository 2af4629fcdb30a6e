#include "registry/artifact_ref.h"

#include <algorithm>

#include "common/error.h"

namespace trellis {
namespace {

bool name_char(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'; }
bool digit(char c) { return c >= '0' && c <= '9'; }

bool valid_name(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  if (!((s[0] >= 'a' && s[0] <= 'z') || digit(s[0]))) return false;
  return std::all_of(s.begin(), s.end(), name_char);
}

// For messages: the value with non-printable bytes escaped, cut at 80 characters.
std::string quoted(std::string_view s) {
  std::string out = "'";
  for (char c : s.substr(0, 80)) {
    if (c >= ' ' && c < 127) {
      out += c;
    } else {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[static_cast<unsigned char>(c) >> 4];
      out += hex[static_cast<unsigned char>(c) & 15];
    }
  }
  if (s.size() > 80) out += "...";
  return out + "'";
}

[[noreturn]] void invalid(const std::string& message) { throw Error(ErrorCode::invalid, message); }

}  // namespace

bool valid_registry_task(std::string_view name) { return valid_name(name); }

bool valid_alias_name(std::string_view name) {
  return valid_name(name) && name != kLatestAlias && !std::all_of(name.begin(), name.end(), digit);
}

std::optional<int64_t> parse_version_number(std::string_view text) {
  if (text.empty() || text.size() > 9 || text[0] == '0' || !std::all_of(text.begin(), text.end(), digit))
    return std::nullopt;
  int64_t v = 0;
  for (char c : text) v = v * 10 + (c - '0');
  return v;  // at most 9 digits: <= kMaxRegistryVersion
}

void check_task_name(std::string_view name) {
  if (!valid_registry_task(name)) invalid("invalid task name " + quoted(name) + ": expected [a-z0-9][a-z0-9._-]{0,63}");
}

void check_alias_name(std::string_view name) {
  if (name == kLatestAlias) invalid("alias 'latest' is reserved: it always names the highest version");
  if (!valid_alias_name(name))
    invalid("invalid alias name " + quoted(name) + ": expected [a-z0-9][a-z0-9._-]{0,63}, not all digits");
}

void check_version_number(int64_t version) {
  if (version < 1 || version > kMaxRegistryVersion)
    invalid("invalid version " + std::to_string(version) + ": expected 1.." + std::to_string(kMaxRegistryVersion));
}

ArtifactRef ArtifactRef::parse(std::string_view text) {
  ArtifactRef ref;
  const size_t at = text.find('@');
  ref.task = std::string(text.substr(0, at));
  if (!valid_registry_task(ref.task))
    invalid("invalid reference " + quoted(text) + ": the task name must match [a-z0-9][a-z0-9._-]{0,63}");
  if (at == std::string_view::npos) return ref;  // "task" means task@latest
  const std::string_view rest = text.substr(at + 1);
  if (rest == kLatestAlias) return ref;
  if (!rest.empty() && std::all_of(rest.begin(), rest.end(), digit)) {
    const auto v = parse_version_number(rest);
    if (!v)
      invalid("invalid reference " + quoted(text) + ": a version is a number from 1 to " +
              std::to_string(kMaxRegistryVersion) + " without leading zeros");
    ref.kind = Kind::version;
    ref.version = *v;
    return ref;
  }
  if (!valid_alias_name(rest))
    invalid("invalid reference " + quoted(text) + ": expected TASK, TASK@VERSION, TASK@latest or TASK@ALIAS");
  ref.kind = Kind::alias;
  ref.alias = std::string(rest);
  return ref;
}

std::string ArtifactRef::to_string() const {
  switch (kind) {
    case Kind::version: return task + "@" + std::to_string(version);
    case Kind::alias: return task + "@" + alias;
    case Kind::latest: break;
  }
  return task + "@" + kLatestAlias;
}

}  // namespace trellis
