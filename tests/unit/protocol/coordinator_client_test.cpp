// CoordinatorClient against a fake coordinator on loopback: the PROTOCOL.md bodies of register,
// lease, complete, fail and cancelled; lease 204 (no job) and 404 (unknown group); retries of
// 503s (register, lease, reports) and what ends them; heartbeat reply mapping; download_file's
// non-retryable errors. Bounded: every wait is a few seconds.
#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>

#include "tests/support/fake_coordinator.h"
#include "common/error.h"
#include "protocol/coordinator_client.h"

namespace trellis::testing {
namespace {

using namespace trellis::protocol;

using namespace std::chrono_literals;

class CoordinatorClientTest : public ::testing::Test {
 protected:
  CoordinatorClientOptions options() {
    CoordinatorClientOptions o;
    o.server = fake_.url();
    o.token = kWorkerToken;
    o.timeout = 3s;
    o.report_deadline = 5s;
    o.log = [this](const std::string& line) {
      std::lock_guard lock(log_mutex_);
      log_.push_back(line);
    };
    return o;
  }
  size_t log_lines() {
    std::lock_guard lock(log_mutex_);
    return log_.size();
  }

  FakeCoordinator fake_;
  std::mutex log_mutex_;
  std::vector<std::string> log_;
};

const GroupRegistration kRegisterBody{.backbone_name = "tiny-bert",
                                      .backbone_sha256 = std::string(64, 'a'),
                                      .world_size = 2,
                                      .devices = {"cpu", "cpu"},
                                      .host = "node-1"};

TEST_F(CoordinatorClientTest, RegisterSendsTheBodyWithTheTokenAndReadsTheReply) {
  CoordinatorClient client(options());
  const auto reg = client.register_group(kRegisterBody);
  ASSERT_TRUE(reg.has_value());
  EXPECT_EQ(reg->group_id, "g-1");
  EXPECT_EQ(reg->lease_ttl_ms, 30000);
  EXPECT_EQ(reg->heartbeat_ms, 10000);
  const auto got = fake_.requests(kGroups);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].target, "/v1/groups");
  EXPECT_EQ(got[0].authorization, std::string("Bearer ") + kWorkerToken);
  const auto body = got[0].json();
  for (const char* field : {"backbone_name", "backbone_sha256", "world_size", "devices", "host"})
    EXPECT_TRUE(body.contains(field)) << field;
  EXPECT_EQ(body.get<GroupRegistration>(), kRegisterBody);  // what the server reads back
}

TEST_F(CoordinatorClientTest, RegisterWithoutHeartbeatMsUsesAThirdOfTheLeaseTtl) {
  fake_.script(kGroups, {201, R"({"group_id":"g-7","lease_ttl_ms":9000})"});
  CoordinatorClient client(options());
  const auto reg = client.register_group(kRegisterBody);
  ASSERT_TRUE(reg.has_value());
  EXPECT_EQ(reg->group_id, "g-7");
  EXPECT_EQ(reg->heartbeat_ms, 3000);
}

TEST_F(CoordinatorClientTest, RegisterRetriesA503AndThenSucceeds) {
  fake_.script(kGroups, {503, R"({"error":{"code":"unavailable","message":"starting"}})"});
  CoordinatorClient client(options());
  const auto start = std::chrono::steady_clock::now();
  const auto reg = client.register_group(kRegisterBody);
  ASSERT_TRUE(reg.has_value());
  EXPECT_EQ(reg->group_id, "g-1");
  EXPECT_EQ(fake_.count(kGroups), 2u);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 400ms);  // the first backoff is 500 ms
  EXPECT_GE(log_lines(), 1u);                                  // the retry was logged
}

TEST_F(CoordinatorClientTest, RegisterA4xxIsAnErrorWithoutRetry) {
  fake_.script(kGroups, {400, R"({"error":{"code":"invalid","message":"bad world_size"}})"});
  CoordinatorClient client(options());
  EXPECT_THROW(client.register_group(kRegisterBody), Error);
  EXPECT_EQ(fake_.count(kGroups), 1u);
}

TEST_F(CoordinatorClientTest, ShouldStopEndsTheRegisterRetries) {
  fake_.set_default(kGroups, {503, ""});
  std::atomic<bool> stop{false};
  auto o = options();
  o.should_stop = [&] { return stop.load(); };
  CoordinatorClient client(o);
  std::thread stopper([&] {
    fake_.wait_for(kGroups, 2);
    stop = true;
  });
  const auto start = std::chrono::steady_clock::now();
  const auto reg = client.register_group(kRegisterBody);
  stopper.join();
  EXPECT_FALSE(reg.has_value());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST_F(CoordinatorClientTest, LeaseReadsTheLeaseAndTheJob) {
  fake_.script(kLease,
               {200, R"({"lease_id":"l-1","lease_ttl_ms":20000,"job":{"id":"j-9","task":"sent","state":"leased"}})"});
  CoordinatorClient client(options());
  LeaseGrant lease;
  EXPECT_EQ(client.lease("g-1", 0, lease), LeaseStatus::leased);
  EXPECT_EQ(lease.lease_id, "l-1");
  EXPECT_EQ(lease.lease_ttl_ms, 20000);
  EXPECT_EQ(lease.job.id, "j-9");
  EXPECT_EQ(lease.job.task, "sent");
  EXPECT_EQ(lease.job.state, JobState::leased);
  const auto got = fake_.requests(kLease);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].target, "/v1/groups/g-1/lease?wait=0");
  EXPECT_EQ(got[0].params.at("group"), "g-1");
  EXPECT_EQ(got[0].query.at("wait"), "0");
  EXPECT_EQ(got[0].authorization, std::string("Bearer ") + kWorkerToken);
}

TEST_F(CoordinatorClientTest, Lease204MeansNoJob) {
  CoordinatorClient client(options());  // the default lease reply is 204
  LeaseGrant lease;
  EXPECT_EQ(client.lease("g-1", 1, lease), LeaseStatus::none);
  EXPECT_EQ(fake_.count(kLease), 1u);
  EXPECT_EQ(fake_.requests(kLease)[0].query.at("wait"), "1");
}

TEST_F(CoordinatorClientTest, Lease404MeansUnknownGroup) {
  fake_.script(kLease, {404, R"({"error":{"code":"not_found","message":"no such group"}})"});
  CoordinatorClient client(options());
  LeaseGrant lease;
  EXPECT_EQ(client.lease("g-gone", 0, lease), LeaseStatus::unknown_group);
  EXPECT_EQ(fake_.count(kLease), 1u);
}

TEST_F(CoordinatorClientTest, LeaseRetriesA503AndThenSucceeds) {
  fake_.script(kLease, {503, ""});
  fake_.script(kLease, {200, FakeCoordinator::body(LeaseGrant{.lease_id = "l-2",
                                                              .lease_ttl_ms = 20000,
                                                              .job = FakeCoordinator::job("j-2", JobState::leased)})});
  CoordinatorClient client(options());
  LeaseGrant lease;
  EXPECT_EQ(client.lease("g-1", 0, lease), LeaseStatus::leased);
  EXPECT_EQ(lease.lease_id, "l-2");
  EXPECT_EQ(fake_.count(kLease), 2u);
}

TEST_F(CoordinatorClientTest, CompleteSendsLeaseAndArtifact) {
  CoordinatorClient client(options());
  EXPECT_EQ(client.complete("j-1", {"l-1", "sent@3"}), ReportStatus::ok);
  const auto got = fake_.requests(kComplete);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].target, "/v1/jobs/j-1/complete");
  EXPECT_EQ(got[0].json(), (nlohmann::json{{"lease_id", "l-1"}, {"artifact", "sent@3"}}));
}

TEST_F(CoordinatorClientTest, FailSendsLeaseErrorAndRetryable) {
  CoordinatorClient client(options());
  EXPECT_EQ(client.fail("j-1", {"l-1", {"bad_data", "row 3 has no label"}, true}), ReportStatus::ok);
  const auto got = fake_.requests(kFail);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].target, "/v1/jobs/j-1/fail");
  const auto body = got[0].json();
  EXPECT_EQ(body["lease_id"], "l-1");
  EXPECT_EQ(body["error"]["code"], "bad_data");
  EXPECT_EQ(body["error"]["message"], "row 3 has no label");
  EXPECT_EQ(body["retryable"], true);
}

TEST_F(CoordinatorClientTest, CancelledSendsTheLease) {
  CoordinatorClient client(options());
  EXPECT_EQ(client.cancelled("j-1", {"l-1"}), ReportStatus::ok);
  const auto got = fake_.requests(kCancelled);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].target, "/v1/jobs/j-1/cancelled");
  EXPECT_EQ(got[0].json(), (nlohmann::json{{"lease_id", "l-1"}}));
}

TEST_F(CoordinatorClientTest, CompleteRetriesA503AndThenSucceeds) {
  fake_.script(kComplete, {503, ""});
  CoordinatorClient client(options());
  EXPECT_EQ(client.complete("j-1", {"l-1", "sent@3"}), ReportStatus::ok);
  EXPECT_EQ(fake_.count(kComplete), 2u);
}

TEST_F(CoordinatorClientTest, ReportConflictAndFatalAnswersAreNotRetried) {
  fake_.script(kComplete, {409, R"({"error":{"code":"conflict","message":"lease gone"}})"});
  fake_.script(kFail, {400, R"({"error":{"code":"invalid","message":"no"}})"});
  CoordinatorClient client(options());
  EXPECT_EQ(client.complete("j-1", {"l-1", "sent@3"}), ReportStatus::conflict);
  EXPECT_EQ(client.fail("j-1", {"l-1", {"x", "y"}, false}), ReportStatus::gave_up);
  EXPECT_EQ(fake_.count(kComplete), 1u);
  EXPECT_EQ(fake_.count(kFail), 1u);
}

TEST_F(CoordinatorClientTest, ReportGivesUpAfterTheDeadline) {
  fake_.set_default(kCancelled, {503, ""});
  auto o = options();
  o.report_deadline = 2s;
  CoordinatorClient client(o);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(client.cancelled("j-1", {"l-1"}), ReportStatus::gave_up);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 4s);
  EXPECT_GE(fake_.count(kCancelled), 2u);
}

TEST_F(CoordinatorClientTest, HeartbeatRepliesMapToActions) {
  fake_.script(kHeartbeat, {200, R"({"action":"continue"})"});
  fake_.script(kHeartbeat, {200, R"({"action":"cancel"})"});
  fake_.script(kHeartbeat, {409, R"({"error":{"code":"conflict","message":"lease gone"}})"});
  fake_.script(kHeartbeat, {503, ""});
  CoordinatorClient client(options());
  const Heartbeat body{.lease_id = "l-1", .step = 3, .total_steps = 10};
  EXPECT_EQ(client.heartbeat("j-1", body), HeartbeatOutcome::proceed);
  EXPECT_EQ(client.heartbeat("j-1", body), HeartbeatOutcome::cancel);
  EXPECT_EQ(client.heartbeat("j-1", body), HeartbeatOutcome::lease_lost);
  EXPECT_EQ(client.heartbeat("j-1", body), HeartbeatOutcome::unreachable);  // one try: no retry
  const auto got = fake_.requests(kHeartbeat);
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0].target, "/v1/jobs/j-1/heartbeat");
  EXPECT_EQ(
      got[0].json(),
      nlohmann::json({{"lease_id", "l-1"}, {"step", 3}, {"total_steps", 10}, {"metrics", nlohmann::json::object()}}));
}

TEST_F(CoordinatorClientTest, HeartbeatToAClosedPortIsUnreachable) {
  // A port that was just free: bound by nothing (a race with another process is harmless here:
  // whatever answers is not a coordinator with this route).
  auto o = options();
  o.server = "http://127.0.0.1:1";
  CoordinatorClient client(o);
  EXPECT_EQ(client.heartbeat("j-1", Heartbeat{.lease_id = "l-1"}), HeartbeatOutcome::unreachable);
}

TEST_F(CoordinatorClientTest, DownloadErrorsThatCannotSucceedAreNotRetryable) {
  const auto dir = std::filesystem::temp_directory_path() / ("trellis-worker-client-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  CoordinatorClient client(options());
  // Not a sha256: refused before any request.
  try {
    client.download_file("not-a-sha", dir / "x");
    ADD_FAILURE() << "no Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::invalid) << e.what();
  }
  EXPECT_EQ(fake_.count(kFiles), 0u);
  // 404: not retried.
  const std::string sha(64, 'c');
  try {
    client.download_file(sha, dir / "x");
    ADD_FAILURE() << "no Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::not_found) << e.what();
  }
  EXPECT_EQ(fake_.count(kFiles), 1u);
  // Bytes whose sha256 differs: not retried, nothing left behind.
  fake_.script(kFiles, {200, "hello"});
  try {
    client.download_file(sha, dir / "x");
    ADD_FAILURE() << "no Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::broken) << e.what();
  }
  EXPECT_EQ(fake_.count(kFiles), 2u);
  EXPECT_FALSE(std::filesystem::exists(dir / "x"));
  // The right bytes land in the file.
  const std::string hello_sha = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
  fake_.script(kFiles, {200, "hello"});
  client.download_file(hello_sha, dir / "x");
  std::ifstream in(dir / "x");
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(content, "hello");
  EXPECT_EQ(fake_.requests(kFiles).back().target, "/v1/files/" + hello_sha);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace trellis::testing
