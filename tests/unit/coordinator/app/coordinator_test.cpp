// The whole coordinator in-process (Coordinator from CoordinatorOptions), served on loopback port
// 0: the typed client over real sockets submits, leases and heartbeats; stop() ends run() at once
// when idle; a second Coordinator on the same state directory still has the job (SQLite); bad
// options are refused at construction with the option named.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "common/error.h"
#include "coordinator/app/coordinator.h"
#include "protocol/coordinator_client.h"
#include "protocol/http_client.h"

namespace trellis::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using namespace trellis::protocol;

constexpr const char* kUser = "user-token-0123456789";
constexpr const char* kWorker = "worker-token-0123456789";
const std::string kSha(64, 'c');

class CoordinatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    dir_ = fs::temp_directory_path() /
           ("trellis-coordinator-app-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    fs::create_directories(dir_ / "configs" / "backbones");
    std::ofstream(dir_ / "configs" / "backbones" / "tiny-bert.json")
        << R"({"name": "tiny-bert", "dir": "nowhere", "lowercase": true, "weights_sha256": ")" << kSha << "\"}";
    std::ofstream(dir_ / "auth.json") << R"({"tokens": [{"token": ")" << kUser << R"(", "role": "user"},
                                                      {"token": ")"
                                      << kWorker << R"(", "role": "worker"}]})";
  }
  void TearDown() override { fs::remove_all(dir_); }

  CoordinatorOptions options() {
    CoordinatorOptions o;
    o.listen = "127.0.0.1:0";
    o.registry = (dir_ / "registry").string();
    o.create_registry = true;
    o.auth_config = (dir_ / "auth.json").string();
    o.state_dir = (dir_ / "state").string();
    o.config_dirs = {(dir_ / "configs").string()};
    o.threads = 2;
    o.grace_seconds = 2;
    return o;
  }
  CoordinatorClient client(const Coordinator& c, const char* token) {
    CoordinatorClientOptions o;
    o.server = "http://127.0.0.1:" + std::to_string(c.endpoint().port());
    o.token = token;
    o.timeout = 5s;
    o.first_backoff = 10ms;
    return CoordinatorClient(o);
  }

  fs::path dir_;
};

TEST_F(CoordinatorTest, ServesTheApiStopsAndKeepsItsJobsAcrossARestart) {
  std::string job_id;
  {
    Coordinator coordinator(options());
    coordinator.start();
    EXPECT_EQ(coordinator.banner()["backbones"], nlohmann::json({"tiny-bert"}));
    EXPECT_EQ(coordinator.banner()["port"], coordinator.endpoint().port());
    std::thread serving([&] { coordinator.run(); });
    CoordinatorClient users = client(coordinator, kUser);
    const FileStored file = users.upload_file("{\"text\": \"good\", \"label\": \"pos\"}\n", "train.jsonl");
    SubmitEnvelope envelope;
    envelope.spec = {{"task", "sent"}, {"backbone", "tiny-bert"}, {"data", {{"train", "file:" + file.id}}}};
    const JobMessage job = users.submit(envelope).job;
    job_id = job.id;
    EXPECT_EQ(job.state, JobState::queued);
    CoordinatorClient workers = client(coordinator, kWorker);
    const auto registered = workers.register_group(
        {.backbone_name = "tiny-bert", .backbone_sha256 = kSha, .world_size = 1, .host = "node-1"});
    ASSERT_TRUE(registered);
    EXPECT_TRUE(registered->served);
    LeaseGrant grant;
    ASSERT_EQ(workers.lease(registered->group_id, 0, grant), LeaseStatus::leased);
    EXPECT_EQ(grant.job.id, job.id);
    EXPECT_EQ(workers.heartbeat(job.id, {.lease_id = grant.lease_id, .step = 1, .total_steps = 3}),
              HeartbeatOutcome::proceed);
    EXPECT_EQ(users.get_job(job.id).state, JobState::running);
    const auto health = http::HttpClient({.server = workers.server()}).get("/healthz");
    EXPECT_EQ(health.status, 200u) << health.body;
    const auto start = std::chrono::steady_clock::now();
    coordinator.stop();
    coordinator.stop();  // idempotent
    serving.join();
    EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  }
  Coordinator restarted(options());
  restarted.start();
  std::thread serving([&] { restarted.run(); });
  const JobMessage again = client(restarted, kUser).get_job(job_id);
  EXPECT_EQ(again.state, JobState::running);
  EXPECT_EQ(again.progress.step, 1);
  restarted.stop();
  serving.join();
}

TEST_F(CoordinatorTest, BadOptionsAreRefusedNamingThem) {
  auto o = options();
  o.listen = "no-port";
  try {
    Coordinator c(o);
    ADD_FAILURE() << "a listen address without a port was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--listen"), std::string::npos) << e.what();
  }
  o = options();
  o.launcher_env = {"1BAD=x"};
  EXPECT_THROW(Coordinator{o}, Error);
  o = options();
  o.auth_config = (dir_ / "missing.json").string();
  try {
    Coordinator c(o);
    ADD_FAILURE() << "a missing auth config was accepted";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("missing.json"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace trellis::testing
