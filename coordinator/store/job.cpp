#include "coordinator/store/job.h"

#include <random>

#include "common/error.h"

namespace trellis {

std::string to_string(LaunchState s) {
  switch (s) {
    case LaunchState::pending: return "pending";
    case LaunchState::running: return "running";
    case LaunchState::ended: return "ended";
  }
  return "unknown";
}

LaunchState parse_launch_state(const std::string& s) {
  for (auto st : {LaunchState::pending, LaunchState::running, LaunchState::ended})
    if (to_string(st) == s) return st;
  throw Error(ErrorCode::invalid, "Unknown launch state '" + s + "' (expected pending, running or ended).");
}

Time to_millis(Time t) { return std::chrono::time_point_cast<std::chrono::milliseconds>(t); }

int64_t millis_since_epoch(Time t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

Time from_millis(int64_t ms) { return Time{std::chrono::milliseconds(ms)}; }

std::string new_random_id(const std::string& prefix) {
  // A fresh random_device per call (the OS's CSPRNG): no state to duplicate across fork().
  std::random_device rd;
  static const char* hex = "0123456789abcdef";
  std::string out = prefix;
  for (int w = 0; w < 2; ++w) {
    uint64_t v = (uint64_t{rd()} << 32) | rd();
    for (int i = 0; i < 16; ++i) out += hex[(v >> (60 - 4 * i)) & 0xf];
  }
  return out;
}

}  // namespace trellis
