// LeaseLoop::step() against a fake coordinator on loopback, one round at a time: the first step
// registers and the next leases (204: no_job); a lease's 404 makes the next step register again
// with the group id; a job that cannot be prepared is reported failed (or not, when its lease was
// lost meanwhile) and refused; a good job is leased with its data downloaded or taken from the
// cache, its heartbeat beating; the data cache is trimmed at most hourly; should_stop ends a step.
// Bounded: waits of a few seconds.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>

#include "common/sha256.h"
#include "tests/support/fake_coordinator.h"
#include "worker/lease_loop.h"

namespace trellis::testing {
namespace {

using namespace trellis::protocol;

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Kind = LeaseStep::Kind;

const std::string kRows = "{\"text\": \"good\", \"label\": \"pos\"}\n{\"text\": \"bad\", \"label\": \"neg\"}\n";

class LeaseLoopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("trellis-lease-loop-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(cache());
  }
  void TearDown() override {
    in_flight_.heartbeat.reset();
    fs::remove_all(dir_);
  }

  CoordinatorClient& client() {
    if (!client_) {
      CoordinatorClientOptions o;
      o.server = fake_.url();
      o.token = kWorkerToken;
      o.timeout = 3s;
      o.report_deadline = 5s;
      o.first_backoff = 300ms;
      o.should_stop = [this] { return stop_.load(); };
      client_ = std::make_unique<CoordinatorClient>(o);
    }
    return *client_;
  }
  LeaseLoopOptions options() {
    LeaseLoopOptions o;
    o.registration.backbone_name = "tiny-bert";
    o.registration.backbone_sha256 = std::string(64, 'a');
    o.registration.world_size = 2;
    o.registration.devices = {"cpu", "cpu"};
    o.registration.host = "node-1";
    o.jobs.checkpoint_dir = dir_ / "checkpoints";
    o.jobs.backbone = "tiny-bert";
    o.lease_wait_s = 1;
    o.cancel = &cancel_;
    o.log = [this](const std::string& line) {
      std::lock_guard lock(log_mutex_);
      log_.push_back(line);
    };
    return o;
  }
  LeaseLoop loop(LeaseLoopOptions o) { return LeaseLoop(client(), std::move(o), in_flight_); }
  bool logged(const std::string& line) {
    std::lock_guard lock(log_mutex_);
    return std::find(log_.begin(), log_.end(), line) != log_.end();
  }
  bool logged_prefix(const std::string& prefix) {
    std::lock_guard lock(log_mutex_);
    return std::any_of(log_.begin(), log_.end(), [&](const std::string& l) { return l.rfind(prefix, 0) == 0; });
  }

  fs::path cache() const { return dir_ / "checkpoints" / "data-cache"; }
  // Writes `bytes` as a cached data file (named by its sha256), last used `age` ago.
  std::string cached(const std::string& bytes, fs::file_time_type::duration age) {
    const std::string sha = sha256_hex(bytes);
    std::ofstream(cache() / sha) << bytes;
    fs::last_write_time(cache() / sha, fs::file_time_type::clock::now() - age);
    return sha;
  }
  // The next lease answers 200 with job `id` (its spec `spec`, `attempts` ended attempts).
  void script_lease(const std::string& id, const std::string& lease_id, nlohmann::json spec, int attempts = 0) {
    LeaseGrant grant;
    grant.lease_id = lease_id;
    grant.lease_ttl_ms = 30000;
    grant.job = FakeCoordinator::job(id, JobState::leased);
    grant.job.spec = std::move(spec);
    grant.job.attempts = attempts;
    fake_.script(kLease, {200, FakeCoordinator::body(grant)});
  }
  static nlohmann::json good_spec(const std::string& sha) {
    return {{"task", "sent"}, {"backbone", "tiny-bert"}, {"data", {{"train", "file:" + sha + ".jsonl"}}}};
  }
  static std::string read(const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  FakeCoordinator fake_;
  fs::path dir_;
  std::atomic<bool> stop_{false}, cancel_{false};
  JobInFlight in_flight_;
  std::unique_ptr<CoordinatorClient> client_;
  std::mutex log_mutex_;
  std::vector<std::string> log_;
};

TEST_F(LeaseLoopTest, FirstStepRegistersThenANoJobLeaseIsNoJob) {
  LeaseLoop leases = loop(options());
  EXPECT_FALSE(leases.registration());
  EXPECT_EQ(leases.step().kind, Kind::registered);
  ASSERT_EQ(fake_.count(kGroups), 1u);
  EXPECT_EQ(fake_.count(kLease), 0u);  // one round: the registration only
  EXPECT_EQ(fake_.requests(kGroups)[0].json(), (nlohmann::json{{"backbone_name", "tiny-bert"},
                                                               {"backbone_sha256", std::string(64, 'a')},
                                                               {"world_size", 2},
                                                               {"devices", {"cpu", "cpu"}},
                                                               {"host", "node-1"}}));
  ASSERT_TRUE(leases.registration());
  EXPECT_EQ(leases.registration()->group_id, "g-1");
  EXPECT_TRUE(logged("registered as group g-1 with " + fake_.url()));

  const LeaseStep step = leases.step();
  EXPECT_EQ(step.kind, Kind::no_job);
  EXPECT_FALSE(step.job);
  ASSERT_EQ(fake_.count(kLease), 1u);
  EXPECT_EQ(fake_.requests(kLease)[0].target, "/v1/groups/g-1/lease?wait=1");
  EXPECT_EQ(leases.step().kind, Kind::no_job);  // registered once: no registration again
  EXPECT_EQ(fake_.count(kGroups), 1u);
  EXPECT_EQ(fake_.count(kLease), 2u);
  EXPECT_TRUE(in_flight_.job_id.empty());
  EXPECT_FALSE(in_flight_.heartbeat);
}

TEST_F(LeaseLoopTest, QuietLogsNoProgressLines) {
  LeaseLoopOptions o = options();
  o.quiet = true;
  LeaseLoop leases = loop(std::move(o));
  EXPECT_EQ(leases.step().kind, Kind::registered);
  EXPECT_FALSE(logged_prefix("registered as group"));
}

TEST_F(LeaseLoopTest, AnUnknownGroupRegistersAgainKeepingTheGroupId) {
  fake_.script(kGroups, {201, FakeCoordinator::body(GroupRegistered{.group_id = "g-1", .heartbeat_ms = 10000})});
  fake_.script(kGroups, {201, FakeCoordinator::body(GroupRegistered{.group_id = "g-2", .heartbeat_ms = 10000})});
  fake_.script(kLease, {404, FakeCoordinator::body(ErrorReply{{"not_found", "no such group"}})});
  LeaseLoop leases = loop(options());
  EXPECT_EQ(leases.step().kind, Kind::registered);
  EXPECT_EQ(leases.step().kind, Kind::unknown_group);
  EXPECT_FALSE(leases.registration());
  EXPECT_TRUE(logged("the coordinator does not know group g-1; registering again"));
  EXPECT_EQ(fake_.count(kGroups), 1u);  // the 404 step does not register itself

  EXPECT_EQ(leases.step().kind, Kind::registered);
  const auto registrations = fake_.requests(kGroups);
  ASSERT_EQ(registrations.size(), 2u);
  EXPECT_FALSE(registrations[0].json().contains("group_id"));
  EXPECT_EQ(registrations[1].json().value("group_id", ""), "g-1");
  EXPECT_EQ(registrations[1].json()["backbone_name"], "tiny-bert");
  EXPECT_EQ(fake_.count(kLease), 1u);

  EXPECT_EQ(leases.step().kind, Kind::no_job);  // the id the coordinator answered is the one used
  ASSERT_EQ(fake_.count(kLease), 2u);
  EXPECT_EQ(fake_.requests(kLease)[1].target, "/v1/groups/g-2/lease?wait=1");
}

TEST_F(LeaseLoopTest, AJobWhoseSpecCannotBeParsedIsReportedInvalidAndRefused) {
  script_lease("j-bad", "l-1", {{"task", 7}});
  cancel_ = true;  // left over from an earlier job
  LeaseLoop leases = loop(options());
  ASSERT_EQ(leases.step().kind, Kind::registered);
  const LeaseStep step = leases.step();
  EXPECT_EQ(step.kind, Kind::refused);
  EXPECT_EQ(step.job_id, "j-bad");
  EXPECT_EQ(step.lease_id, "l-1");
  EXPECT_EQ(step.error_code, "invalid_job");
  EXPECT_FALSE(step.error.empty());
  EXPECT_FALSE(step.job);
  EXPECT_FALSE(cancel_.load());  // cleared for the lease

  const auto fails = fake_.requests(kFail);
  ASSERT_EQ(fails.size(), 1u);
  EXPECT_EQ(fails[0].target, "/v1/jobs/j-bad/fail");
  const nlohmann::json body = fails[0].json();
  EXPECT_EQ(body["lease_id"], "l-1");
  EXPECT_EQ(body["error"]["code"], "invalid_job");
  EXPECT_EQ(body["error"]["message"], step.error);
  EXPECT_EQ(body["retryable"], false);
  EXPECT_TRUE(logged("leased job j-bad (lease l-1)"));
  // The job is no longer in flight: its heartbeat is gone, its beats went to its lease.
  EXPECT_TRUE(in_flight_.job_id.empty());
  EXPECT_FALSE(in_flight_.heartbeat);
  for (const auto& beat : fake_.requests(kHeartbeat)) {
    EXPECT_EQ(beat.target, "/v1/jobs/j-bad/heartbeat");
    EXPECT_EQ(beat.json()["lease_id"], "l-1");
  }
  EXPECT_EQ(leases.step().kind, Kind::no_job);  // the loop goes on
}

TEST_F(LeaseLoopTest, AJobWhoseLeaseWasLostWhilePreparingIsRefusedWithoutAReport) {
  // The download is answered 503 (retried after 300 ms), then 404; the first beat meanwhile gets 409.
  const std::string sha = sha256_hex(kRows);
  fake_.script(kHeartbeat, {409, FakeCoordinator::body(ErrorReply{{"conflict", "the lease is gone"}})});
  fake_.script(kFiles, {503, FakeCoordinator::body(ErrorReply{{"unavailable", "busy"}})});
  script_lease("j-lost", "l-1", good_spec(sha));
  LeaseLoop leases = loop(options());
  ASSERT_EQ(leases.step().kind, Kind::registered);
  const LeaseStep step = leases.step();
  EXPECT_EQ(step.kind, Kind::refused);
  EXPECT_EQ(step.error_code, "data_unavailable");
  EXPECT_EQ(fake_.count(kFiles), 2u);
  EXPECT_GE(fake_.count(kHeartbeat), 1u);
  EXPECT_EQ(fake_.count(kFail), 0u);  // the job is another group's now
  EXPECT_TRUE(in_flight_.job_id.empty());
  EXPECT_FALSE(in_flight_.heartbeat);
}

TEST_F(LeaseLoopTest, AGoodJobIsLeasedWithItsDataDownloadedAndItsHeartbeatBeating) {
  const std::string sha = sha256_hex(kRows);
  fake_.script(kFiles, {200, kRows});
  script_lease("j-good", "l-2", good_spec(sha), 1);
  LeaseLoop leases = loop(options());
  ASSERT_EQ(leases.step().kind, Kind::registered);
  LeaseStep step = leases.step();
  ASSERT_EQ(step.kind, Kind::leased) << step.error;
  EXPECT_EQ(step.job_id, "j-good");
  EXPECT_EQ(step.lease_id, "l-2");
  EXPECT_EQ(step.attempt, 2);  // one attempt ended before
  ASSERT_TRUE(step.job);
  const GroupJob& job = *step.job;
  EXPECT_EQ(job.id, "j-good");
  EXPECT_EQ(job.spec.task, "sent");
  EXPECT_EQ(job.spec.train.metric, "accuracy");  // the parsed spec, defaults filled in
  EXPECT_EQ(job.spec.data.train, (fs::absolute(cache()) / (sha + ".jsonl")).string());
  EXPECT_EQ(read(job.spec.data.train), kRows);
  ASSERT_EQ(fake_.count(kFiles), 1u);
  EXPECT_EQ(fake_.requests(kFiles)[0].target, "/v1/files/" + sha);
  EXPECT_EQ(job.checkpoint_file, (fs::absolute(dir_ / "checkpoints") / "j-good.ckpt").string());
  EXPECT_FALSE(job.out.empty());
  EXPECT_TRUE(fs::is_directory(fs::path(job.out).parent_path()));
  EXPECT_EQ(fake_.count(kFail), 0u);
  EXPECT_TRUE(logged("leased job j-good (lease l-2)"));

  // The job stays in flight, its heartbeat running, for the caller to report.
  EXPECT_EQ(in_flight_.job_id, "j-good");
  EXPECT_EQ(in_flight_.lease_id, "l-2");
  ASSERT_TRUE(in_flight_.heartbeat);
  ASSERT_TRUE(fake_.wait_for(kHeartbeat, 1));
  EXPECT_EQ(fake_.requests(kHeartbeat)[0].target, "/v1/jobs/j-good/heartbeat");
  EXPECT_EQ(fake_.requests(kHeartbeat)[0].json()["lease_id"], "l-2");
  EXPECT_FALSE(in_flight_.heartbeat->lease_lost());
  in_flight_.heartbeat->stop();
  remove_job_staging(job);
}

TEST_F(LeaseLoopTest, AGoodJobWhoseDataIsCachedIsLeasedWithoutADownload) {
  const std::string sha = cached(kRows, 48h);
  script_lease("j-cached", "l-3", good_spec(sha));
  LeaseLoop leases = loop(options());
  ASSERT_EQ(leases.step().kind, Kind::registered);
  LeaseStep step = leases.step();
  ASSERT_EQ(step.kind, Kind::leased) << step.error;
  ASSERT_TRUE(step.job);
  EXPECT_EQ(step.attempt, 1);
  EXPECT_EQ(step.job->spec.data.train, (fs::absolute(cache()) / (sha + ".jsonl")).string());
  EXPECT_EQ(read(step.job->spec.data.train), kRows);
  EXPECT_EQ(fake_.count(kFiles), 0u);
  EXPECT_GT(fs::last_write_time(cache() / sha), fs::file_time_type::clock::now() - 1h);  // marked used
  in_flight_.heartbeat->stop();
  remove_job_staging(*step.job);
}

TEST_F(LeaseLoopTest, ALeaseRoundTrimsTheDataCacheAtMostHourly) {
  const std::string old_file = cached("old rows\n", 48h);
  LeaseLoopOptions o = options();
  o.cache_retention = 24h;
  LeaseLoop leases = loop(std::move(o));
  ASSERT_EQ(leases.step().kind, Kind::registered);
  EXPECT_TRUE(fs::exists(cache() / old_file));  // a registering round does not trim
  ASSERT_EQ(leases.step().kind, Kind::no_job);
  EXPECT_FALSE(fs::exists(cache() / old_file));
  EXPECT_TRUE(logged("data cache: removed 1 file(s) (9 bytes) unused for 86400 s"));

  const std::string another = cached("other old rows\n", 48h);
  ASSERT_EQ(leases.step().kind, Kind::no_job);
  EXPECT_TRUE(fs::exists(cache() / another));  // the next trim is an hour away
}

TEST_F(LeaseLoopTest, NoRetentionNoTrim) {
  const std::string old_file = cached("old rows\n", 48h);
  LeaseLoop leases = loop(options());
  ASSERT_EQ(leases.step().kind, Kind::registered);
  ASSERT_EQ(leases.step().kind, Kind::no_job);
  EXPECT_TRUE(fs::exists(cache() / old_file));
}

TEST_F(LeaseLoopTest, AStopEndsTheStepBeforeAnyRequest) {
  LeaseLoop leases = loop(options());
  ASSERT_EQ(leases.step().kind, Kind::registered);
  stop_ = true;
  EXPECT_EQ(leases.step().kind, Kind::stopped);
  EXPECT_EQ(fake_.count(kLease), 0u);

  LeaseLoop fresh = loop(options());
  EXPECT_EQ(fresh.step().kind, Kind::stopped);
  EXPECT_FALSE(fresh.registration());
  EXPECT_EQ(fake_.count(kGroups), 1u);
}

}  // namespace
}  // namespace trellis::testing
