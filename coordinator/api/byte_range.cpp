#include "coordinator/api/byte_range.h"

#include <charconv>

namespace trellis::api {

namespace {
std::optional<std::uint64_t> number(std::string_view s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}
std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}
}  // namespace

RangeResult parse_byte_range(std::string_view header, std::uint64_t size, ByteRange& out) {
  header = trim(header);
  constexpr std::string_view kUnit = "bytes=";
  if (header.substr(0, kUnit.size()) != kUnit) return RangeResult::none;
  std::string_view spec = trim(header.substr(kUnit.size()));
  if (spec.find(',') != std::string_view::npos) return RangeResult::none;
  const size_t dash = spec.find('-');
  if (dash == std::string_view::npos) return RangeResult::none;
  const std::string_view a = trim(spec.substr(0, dash)), b = trim(spec.substr(dash + 1));
  if (a.empty()) {  // suffix: the last n bytes
    const auto n = number(b);
    if (!n) return RangeResult::none;
    if (*n == 0 || size == 0) return RangeResult::unsatisfiable;
    out.first = *n >= size ? 0 : size - *n;
    out.last = size - 1;
    return RangeResult::ok;
  }
  const auto first = number(a);
  if (!first) return RangeResult::none;
  std::optional<std::uint64_t> last;
  if (!b.empty()) {
    last = number(b);
    if (!last || *last < *first) return RangeResult::none;  // invalid: ignored
  }
  if (*first >= size) return RangeResult::unsatisfiable;
  out.first = *first;
  out.last = last && *last < size ? *last : size - 1;
  return RangeResult::ok;
}

}  // namespace trellis::api
