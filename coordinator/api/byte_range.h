#pragma once
// One `Range: bytes=...` request header (RFC 9110 14.1.2) against a representation of `size`
// bytes: "a-b", "a-", "-n". Pure functions, thread-safe.
#include <cstdint>
#include <optional>
#include <string_view>

namespace trellis::api {

struct ByteRange {
  std::uint64_t first = 0;  // inclusive
  std::uint64_t last = 0;   // inclusive
  std::uint64_t length() const { return last - first + 1; }
};

enum class RangeResult { none, ok, unsatisfiable };

// none: no usable range (the header is absent, malformed, another unit, or several ranges:
// serve the whole file, as RFC 9110 allows); ok: `out` holds the clamped range; unsatisfiable:
// 416 (first byte beyond the end, "-0", or an empty file).
RangeResult parse_byte_range(std::string_view header, std::uint64_t size, ByteRange& out);

}  // namespace trellis::api
