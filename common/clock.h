#pragma once
// The coordinator's time source, injected so that lease expiry is steppable in tests.
// Thread safety: SystemClock is stateless; FakeClock is guarded by a mutex (set/advance from a
// test thread while a store reads it is fine).
#include <chrono>
#include <mutex>

namespace trellis {

using Time = std::chrono::system_clock::time_point;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual Time now() const = 0;
};

// The wall clock (std::chrono::system_clock).
class SystemClock : public Clock {
 public:
  Time now() const override;
};

// A settable clock for tests; starts at `start` and moves only when told to.
class FakeClock : public Clock {
 public:
  explicit FakeClock(Time start = Time{std::chrono::seconds(1'800'000'000)}) : now_(start) {}
  Time now() const override;
  void set(Time t);
  void advance(std::chrono::milliseconds d);

 private:
  mutable std::mutex mutex_;
  Time now_;
};

}  // namespace trellis
