// HeartbeatLoop against a fake coordinator on loopback: the immediate first beat, periodic beats,
// urgent reports that skip min_gap, coalescing of training metrics (an evaluation is kept apart),
// the resumed_from_step beat, "cancel" replies and lost leases (409) setting the cancel flag, and
// stop() flushing pending news. Bounded: intervals and gaps of at most a few seconds, waits of 3 s.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "tests/support/fake_coordinator.h"
#include "worker/heartbeat_loop.h"

namespace trellis::testing {
namespace {

using namespace trellis::protocol;

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

class HeartbeatLoopTest : public ::testing::Test {
 protected:
  CoordinatorClient client() {
    CoordinatorClientOptions o;
    o.server = fake_.url();
    o.token = kWorkerToken;
    o.timeout = 3s;
    return CoordinatorClient(o);
  }
  std::vector<nlohmann::json> beats() {
    std::vector<nlohmann::json> out;
    for (const auto& r : fake_.requests(kHeartbeat)) out.push_back(r.json());
    return out;
  }
  // Polls `pred` for up to 3 s.
  template <class Pred>
  static bool eventually(Pred pred) {
    const auto until = Clock::now() + 3s;
    while (Clock::now() < until) {
      if (pred()) return true;
      std::this_thread::sleep_for(5ms);
    }
    return pred();
  }

  FakeCoordinator fake_;
};

const nlohmann::json kEmpty = nlohmann::json::object();

nlohmann::json train(int64_t step, double loss) {
  return {{"step", step}, {"epoch", 0}, {"loss", loss}, {"learning_rate", 1e-4}, {"samples_per_s", 10.0}};
}

TEST_F(HeartbeatLoopTest, FirstBeatGoesOutAtOnceWithStepZero) {
  auto c = client();
  const auto start = Clock::now();
  HeartbeatLoop loop(c, "j-1", "l-1", 10s);
  ASSERT_TRUE(fake_.wait_for(kHeartbeat, 1));
  EXPECT_LT(fake_.requests(kHeartbeat)[0].at - start, 2s);  // not after `interval`
  loop.stop();
  const auto got = fake_.requests(kHeartbeat);
  ASSERT_EQ(got.size(), 1u);  // nothing pending: stop() sends nothing more
  EXPECT_EQ(got[0].target, "/v1/jobs/j-1/heartbeat");
  EXPECT_EQ(got[0].authorization, std::string("Bearer ") + kWorkerToken);
  EXPECT_EQ(got[0].json(), (nlohmann::json{{"lease_id", "l-1"}, {"step", 0}, {"total_steps", 0}, {"metrics", kEmpty}}));
  EXPECT_EQ(loop.beats_sent(), 1);
  EXPECT_FALSE(loop.cancel_requested());
  EXPECT_FALSE(loop.lease_lost());
}

TEST_F(HeartbeatLoopTest, PeriodicBeatsCarryEmptyMetrics) {
  auto c = client();
  HeartbeatLoop loop(c, "j-1", "l-1", 50ms);
  ASSERT_TRUE(fake_.wait_for(kHeartbeat, 4));
  loop.stop();
  for (const auto& b : beats()) {
    EXPECT_EQ(b["metrics"], kEmpty);
    EXPECT_EQ(b["lease_id"], "l-1");
  }
}

TEST_F(HeartbeatLoopTest, UrgentReportSkipsMinGap) {
  auto c = client();
  HeartbeatLoop loop(c, "j-1", "l-1", 10s, nullptr, 5s);
  ASSERT_TRUE(fake_.wait_for(kHeartbeat, 1));
  const auto reported = Clock::now();
  loop.report(1, 100, train(1, 2.5), /*urgent=*/true);
  ASSERT_TRUE(fake_.wait_for(kHeartbeat, 2));  // well before min_gap (5 s) and interval (10 s)
  EXPECT_LT(fake_.requests(kHeartbeat)[1].at - reported, 2s);
  const auto b = beats()[1];
  EXPECT_EQ(b["step"], 1);
  EXPECT_EQ(b["total_steps"], 100);
  EXPECT_EQ(b["metrics"], train(1, 2.5));
  loop.stop();
  EXPECT_EQ(fake_.count(kHeartbeat), 2u);
}

// An urgent evaluation goes out once; the loop then waits for the interval again (it used to
// keep sending empty beats because only training metrics cleared the urgency).
TEST_F(HeartbeatLoopTest, UrgentEvalIsSentOnceThenTheLoopWaits) {
  auto c = client();
  HeartbeatLoop loop(c, "j-1", "l-1", 10s, nullptr, 5s);
  ASSERT_TRUE(fake_.wait_for(kHeartbeat, 1));
  loop.report(4, 100, {{"eval", {{"step", 4}, {"value", 0.5}}}}, /*urgent=*/true);
  ASSERT_TRUE(fake_.wait_for(kHeartbeat, 2));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(fake_.count(kHeartbeat), 2u);
  EXPECT_TRUE(beats()[1]["metrics"].contains("eval"));
  loop.stop();
  EXPECT_EQ(fake_.count(kHeartbeat), 2u);
}

TEST_F(HeartbeatLoopTest, NonUrgentReportsWaitForMinGapAndCoalesceButKeepTheEval) {
  auto c = client();
  const auto min_gap = 400ms;
  HeartbeatLoop loop(c, "j-1", "l-1", 10s, nullptr, min_gap);
  ASSERT_TRUE(fake_.wait_for(kHeartbeat, 1));
  loop.report(1, 10, train(1, 3.0));
  loop.report(2, 10, train(2, 2.0));
  loop.report(2, 10, {{"eval", {{"step", 2}, {"accuracy", 0.5}}}});
  loop.report(3, 10, train(3, 1.0));
  ASSERT_TRUE(fake_.wait_for(kHeartbeat, 3));
  std::this_thread::sleep_for(2 * min_gap);  // nothing else is pending: no further beat
  const auto got = fake_.requests(kHeartbeat);
  ASSERT_EQ(got.size(), 3u);
  // Gaps count from the previous beat's answer, which the server gave after it received that beat.
  EXPECT_GE(got[1].at - got[0].at, min_gap);
  EXPECT_GE(got[2].at - got[1].at, min_gap);
  const auto b1 = got[1].json(), b2 = got[2].json();
  EXPECT_EQ(b1["metrics"], train(3, 1.0));  // the latest training metrics only
  EXPECT_EQ(b1["step"], 3);
  EXPECT_EQ(b1["total_steps"], 10);
  EXPECT_EQ(b2["metrics"], (nlohmann::json{{"eval", {{"step", 2}, {"accuracy", 0.5}}}}));
  loop.stop();
}

TEST_F(HeartbeatLoopTest, ResumedFromStepGoesOutInABeatOfItsOwnFirst) {
  auto c = client();
  HeartbeatLoop loop(c, "j-1", "l-1", 10s, nullptr, 5s);
  ASSERT_TRUE(fake_.wait_for(kHeartbeat, 1));
  loop.set_resumed_from(40);
  loop.report(41, 100, train(41, 0.7), /*urgent=*/true);
  ASSERT_TRUE(fake_.wait_for(kHeartbeat, 3));
  const auto b = beats();
  EXPECT_EQ(b[1]["metrics"], (nlohmann::json{{"resumed_from_step", 40}}));
  EXPECT_EQ(b[1]["lease_id"], "l-1");
  EXPECT_EQ(b[2]["metrics"], train(41, 0.7));
  EXPECT_EQ(b[2]["step"], 41);
  loop.stop();
  EXPECT_EQ(fake_.count(kHeartbeat), 3u);
}

TEST_F(HeartbeatLoopTest, CancelReplySetsTheCancelFlag) {
  fake_.set_default(kHeartbeat, {200, R"({"action":"cancel"})"});
  std::atomic<bool> cancel{false};
  auto c = client();
  HeartbeatLoop loop(c, "j-1", "l-1", 10s, &cancel);
  EXPECT_TRUE(eventually([&] { return cancel.load(); }));
  EXPECT_TRUE(loop.cancel_requested());
  EXPECT_EQ(&loop.cancel_flag(), &cancel);
  EXPECT_FALSE(loop.lease_lost());
  // The lease is still held: news still goes out.
  loop.report(1, 10, train(1, 1.0), true);
  EXPECT_TRUE(fake_.wait_for(kHeartbeat, 2));
  loop.stop();
}

TEST_F(HeartbeatLoopTest, ContinueRepliesLeaveTheFlagAlone) {
  std::atomic<bool> cancel{false};
  auto c = client();
  HeartbeatLoop loop(c, "j-1", "l-1", 30ms, &cancel);
  ASSERT_TRUE(fake_.wait_for(kHeartbeat, 3));
  loop.stop();
  EXPECT_FALSE(cancel.load());
  EXPECT_FALSE(loop.lease_lost());
}

TEST_F(HeartbeatLoopTest, LostLeaseSetsTheFlagsAndNoFurtherBeatIsSent) {
  fake_.set_default(kHeartbeat, {409, R"({"error":{"code":"conflict","message":"lease gone"}})"});
  std::atomic<bool> cancel{false};
  auto c = client();
  HeartbeatLoop loop(c, "j-1", "l-1", 30ms, &cancel, 10ms);
  EXPECT_TRUE(eventually([&] { return loop.lease_lost(); }));
  EXPECT_TRUE(cancel.load());
  EXPECT_TRUE(loop.cancel_requested());
  loop.report(5, 10, train(5, 1.0), /*urgent=*/true);
  loop.report(5, 10, {{"eval", {{"accuracy", 0.9}}}});
  std::this_thread::sleep_for(300ms);  // ten intervals
  loop.stop();                         // pending news is dropped for a lost lease
  EXPECT_EQ(fake_.count(kHeartbeat), 1u);
  EXPECT_EQ(loop.beats_sent(), 1);
}

TEST_F(HeartbeatLoopTest, StopSendsPendingNews) {
  auto c = client();
  HeartbeatLoop loop(c, "j-1", "l-1", 10s, nullptr, 10s);
  ASSERT_TRUE(fake_.wait_for(kHeartbeat, 1));
  loop.report(7, 10, train(7, 0.3));
  loop.report(7, 10, {{"eval", {{"accuracy", 0.8}}}});
  const auto start = Clock::now();
  loop.stop();  // min_gap (10 s) is not waited for
  EXPECT_LT(Clock::now() - start, 3s);
  const auto b = beats();
  ASSERT_EQ(b.size(), 3u);
  EXPECT_EQ(b[1]["metrics"], train(7, 0.3));
  EXPECT_EQ(b[1]["step"], 7);
  EXPECT_EQ(b[2]["metrics"], (nlohmann::json{{"eval", {{"accuracy", 0.8}}}}));
  loop.stop();  // idempotent
  EXPECT_EQ(fake_.count(kHeartbeat), 3u);
}

TEST_F(HeartbeatLoopTest, AnUnreachableBeatIsRetriedByTheNextOne) {
  fake_.script(kHeartbeat, {503, ""});
  std::atomic<bool> cancel{false};
  auto c = client();
  HeartbeatLoop loop(c, "j-1", "l-1", 30ms, &cancel);
  ASSERT_TRUE(fake_.wait_for(kHeartbeat, 3));
  loop.stop();
  EXPECT_FALSE(cancel.load());
  EXPECT_FALSE(loop.lease_lost());
}

}  // namespace
}  // namespace trellis::testing
