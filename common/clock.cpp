#include "common/clock.h"

namespace trellis {

Time SystemClock::now() const { return std::chrono::system_clock::now(); }

Time FakeClock::now() const {
  std::lock_guard lock(mutex_);
  return now_;
}

void FakeClock::set(Time t) {
  std::lock_guard lock(mutex_);
  now_ = t;
}

void FakeClock::advance(std::chrono::milliseconds d) {
  std::lock_guard lock(mutex_);
  now_ += d;
}

}  // namespace trellis
