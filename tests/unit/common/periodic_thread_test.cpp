// PeriodicThread: runs at once and then every interval or on wake(), reports a throwing run and
// goes on, and stops (no run after stop(), which joins).
#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "common/periodic_thread.h"

namespace trellis {
namespace {

using namespace std::chrono_literals;

bool eventually(const std::function<bool()>& condition) {
  for (int i = 0; i < 500; ++i) {
    if (condition()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

TEST(PeriodicThreadTest, RunsAtOnceThenEveryIntervalUntilStopped) {
  std::atomic<int> runs{0};
  PeriodicThread thread(
      20ms, [&] { ++runs; }, nullptr);
  EXPECT_TRUE(eventually([&] { return runs >= 3; }));
  thread.stop();
  const int after_stop = runs;
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(runs, after_stop);
  thread.stop();  // idempotent
}

TEST(PeriodicThreadTest, TheFirstRunDoesNotWaitForTheInterval) {
  std::atomic<int> runs{0};
  PeriodicThread thread(
      1h, [&] { ++runs; }, nullptr);
  EXPECT_TRUE(eventually([&] { return runs == 1; }));
  const auto t0 = std::chrono::steady_clock::now();
  thread.stop();  // wakes the hour-long wait
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  EXPECT_EQ(runs, 1);
}

TEST(PeriodicThreadTest, WakeStartsTheNextRunWithoutWaitingForTheInterval) {
  std::atomic<int> runs{0};
  PeriodicThread thread(
      1h, [&] { ++runs; }, nullptr);
  ASSERT_TRUE(eventually([&] { return runs == 1; }));
  thread.wake();
  EXPECT_TRUE(eventually([&] { return runs == 2; }));
  thread.stop();
}

TEST(PeriodicThreadTest, AThrowingRunIsReportedAndTheNextOneStillComes) {
  std::atomic<int> runs{0};
  std::mutex mutex;
  std::vector<std::string> errors;
  PeriodicThread thread(
      10ms,
      [&] {
        if (++runs == 1) throw std::runtime_error("disk full");
      },
      [&](const std::string& e) {
        std::lock_guard lock(mutex);
        errors.push_back(e);
      });
  EXPECT_TRUE(eventually([&] { return runs >= 2; }));
  thread.stop();
  std::lock_guard lock(mutex);
  EXPECT_EQ(errors, std::vector<std::string>{"disk full"});
}

}  // namespace
}  // namespace trellis
