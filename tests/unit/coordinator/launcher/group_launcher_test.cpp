// GroupLauncher against a fake Slurm and a real store: when it submits, its bounds, idle
// cancellation, a Slurm job that ended (its group's lease goes back to the queue at once), and
// a restart of the coordinator (the launched ids are kept in SQLite).
#include <gtest/gtest.h>

#include <algorithm>

#include "tests/unit/coordinator/store/store_test_util.h"
#include "coordinator/launcher/group_launcher.h"
#include "common/error.h"

namespace trellis {
namespace {

using namespace std::chrono_literals;
using test::kShaA;
using test::kShaB;
using test::make_group;
using test::make_request;

class FakeSlurm : public SlurmClient {
 public:
  std::string submit(const GroupSubmission& s) override {
    if (fail_submit) throw Error(ErrorCode::unavailable, "sbatch failed (exit code 1): no partition");
    submissions.push_back(s);
    const std::string id = std::to_string(next_id++);
    listed[id] = LaunchState::pending;
    return id;
  }
  void cancel(const std::string& id) override { cancels.push_back(id); }
  std::map<std::string, LaunchState> states(const std::vector<std::string>& ids) override {
    asked.push_back(ids);
    if (fail_states) throw Error(ErrorCode::unavailable, "squeue failed (timed out)");
    std::map<std::string, LaunchState> out;
    for (const auto& id : ids)
      if (auto it = listed.find(id); it != listed.end()) out.insert(*it);
    return out;
  }

  int next_id = 100;
  std::map<std::string, LaunchState> listed;  // what squeue shows
  std::vector<GroupSubmission> submissions;
  std::vector<std::string> cancels;
  std::vector<std::vector<std::string>> asked;
  bool fail_submit = false;
  bool fail_states = false;
};

class GroupLauncherTest : public ::testing::Test {
 protected:
  GroupLauncherTest() { reopen_launcher(); }

  void reopen_launcher() {
    LauncherOptions o;
    o.max_groups = 2;
    o.idle_timeout = 60s;
    o.group_live_window = 90s;
    launcher_ = std::make_unique<GroupLauncher>(*store_, slurm_, clock_, o, GroupLauncher::ReleaseFn{},
                                                [this](const std::string& line) { log_.push_back(line); });
  }

  // A group as the worker registers it from inside Slurm job `slurm_id`.
  Group register_launched(const std::string& group_id, const std::string& slurm_id, const std::string& sha = kShaA) {
    Group g = make_group(group_id, sha);
    g.slurm_job_id = slurm_id;
    return store_->register_group(g);
  }

  test::TempDir dir_;
  FakeClock clock_;
  std::unique_ptr<JobStore> store_ = std::make_unique<SqliteJobStore>(dir_.path() / "jobs.db", clock_);
  FakeSlurm slurm_;
  std::vector<std::string> log_;
  std::unique_ptr<GroupLauncher> launcher_;
};

TEST_F(GroupLauncherTest, NothingQueuedSubmitsNothing) {
  auto t = launcher_->tick();
  EXPECT_TRUE(t.submitted.empty());
  EXPECT_TRUE(slurm_.asked.empty());  // no launched jobs: squeue is not asked
}

TEST_F(GroupLauncherTest, SubmitsWhenJobsQueueAndNoIdleGroup) {
  store_->submit(make_request("a1"));
  store_->submit(make_request("a2"));
  auto t = launcher_->tick();
  ASSERT_EQ(t.submitted.size(), 1u);
  ASSERT_EQ(slurm_.submissions.size(), 1u);
  EXPECT_EQ(slurm_.submissions[0].backbone_name, "all-MiniLM-L6-v2");
  EXPECT_EQ(slurm_.submissions[0].backbone_sha256, kShaA);
  auto launches = store_->launched_jobs();
  ASSERT_EQ(launches.size(), 1u);
  EXPECT_EQ(launches[0].slurm_job_id, t.submitted[0]);
  EXPECT_EQ(launches[0].state, LaunchState::pending);
  EXPECT_EQ(launcher_->counts().submissions_total, 1);
  EXPECT_EQ(launcher_->counts().pending, 1);
  const std::string metrics = launcher_->render_metrics();
  EXPECT_NE(metrics.find("trellis_launcher_groups{state=\"pending\"} 1\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("trellis_launcher_groups{state=\"running\"} 0\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("trellis_launcher_submissions_total 1\n"), std::string::npos) << metrics;
}

TEST_F(GroupLauncherTest, AnIdleGroupServingTheBackboneIsEnough) {
  store_->register_group(make_group("g-manual", kShaA));  // started by hand, not by the launcher
  store_->submit(make_request("a1"));
  EXPECT_TRUE(launcher_->tick().submitted.empty());
  // Once it holds a lease and more jobs wait, another group is needed.
  ASSERT_TRUE(store_->lease("g-manual", 30s));
  store_->submit(make_request("a2"));
  EXPECT_EQ(launcher_->tick().submitted.size(), 1u);
  // A group that was not seen for longer than the live window does not count as idle.
  store_->register_group(make_group("g-old", kShaB));
  clock_.advance(100s);
  store_->submit(make_request("b1", 0, kShaB));
  auto t = launcher_->tick();
  ASSERT_EQ(t.submitted.size(), 1u);
  EXPECT_EQ(slurm_.submissions.back().backbone_sha256, kShaB);
}

TEST_F(GroupLauncherTest, BoundedByMaxGroups) {
  const std::string kShaC(64, 'c');
  store_->submit(make_request("a", 0, kShaA));
  store_->submit(make_request("b", 0, kShaB));
  store_->submit(make_request("c", 0, kShaC));
  auto t = launcher_->tick();
  EXPECT_EQ(t.submitted.size(), 2u);  // --launcher-max-groups 2
  EXPECT_TRUE(launcher_->tick().submitted.empty());
  // Running groups count too.
  for (auto& [id, s] : slurm_.listed) s = LaunchState::running;
  EXPECT_TRUE(launcher_->tick().submitted.empty());
  EXPECT_EQ(launcher_->counts().running, 2);
  // One ends (backbone A's, whose job still waits): a group is submitted again, within the bound.
  const std::string first = t.submitted[0];
  slurm_.listed.erase(first);
  t = launcher_->tick();
  EXPECT_EQ(t.ended, std::vector<std::string>{first});
  ASSERT_EQ(t.submitted.size(), 1u);
  EXPECT_EQ(slurm_.submissions.back().backbone_sha256, kShaA);
  EXPECT_EQ(store_->launched_jobs().size(), 2u);
  EXPECT_EQ(launcher_->counts().submissions_total, 3);
}

TEST_F(GroupLauncherTest, NoDoubleSubmitWhilePendingOrStarting) {
  store_->submit(make_request("a1"));
  store_->submit(make_request("a2"));
  const std::string id = launcher_->tick().submitted.at(0);
  EXPECT_TRUE(launcher_->tick().submitted.empty());  // pending in Slurm
  slurm_.listed[id] = LaunchState::running;
  EXPECT_TRUE(launcher_->tick().submitted.empty());  // running, not registered yet
  EXPECT_EQ(store_->launched_jobs().at(0).state, LaunchState::running);
  register_launched("g1", id);
  EXPECT_TRUE(launcher_->tick().submitted.empty());  // registered and idle: it will lease
  ASSERT_TRUE(store_->lease("g1", 30s));
  EXPECT_EQ(launcher_->tick().submitted.size(), 1u);  // busy, one job still waits: a second group
  EXPECT_EQ(slurm_.submissions.size(), 2u);
}

TEST_F(GroupLauncherTest, ScancelAfterIdleTimeout) {
  store_->submit(make_request("a1"));
  const std::string id = launcher_->tick().submitted.at(0);
  slurm_.listed[id] = LaunchState::running;
  register_launched("g1", id);
  auto l = store_->lease("g1", 30s);
  ASSERT_TRUE(l);
  store_->complete(l->job.id, l->lease_id, "a1@1");
  launcher_->tick();  // idle from now
  for (int i = 0; i < 5; ++i) {
    clock_.advance(10s);
    EXPECT_FALSE(store_->lease("g1", 30s));  // the long-poll keeps the group live
    EXPECT_TRUE(launcher_->tick().cancelled.empty());
  }
  clock_.advance(9s);
  EXPECT_FALSE(store_->lease("g1", 30s));
  EXPECT_TRUE(launcher_->tick().cancelled.empty());  // 59 s
  clock_.advance(1s);
  EXPECT_FALSE(store_->lease("g1", 30s));
  auto t = launcher_->tick();
  EXPECT_EQ(t.cancelled, std::vector<std::string>{id});
  EXPECT_EQ(slurm_.cancels, std::vector<std::string>{id});
  ASSERT_TRUE(store_->launched_jobs().at(0).cancel_requested_at);
  EXPECT_TRUE(launcher_->tick().cancelled.empty());  // not again at once
  // Slurm drops it: the launch ends; no job was held, nothing is released.
  slurm_.listed.erase(id);
  t = launcher_->tick();
  EXPECT_EQ(t.ended, std::vector<std::string>{id});
  EXPECT_TRUE(t.released_jobs.empty());
  EXPECT_TRUE(store_->launched_jobs().empty());
  EXPECT_EQ(store_->launched_jobs(true).at(0).state, LaunchState::ended);
}

TEST_F(GroupLauncherTest, BusyGroupIsNotCancelled) {
  store_->submit(make_request("a1"));
  const std::string id = launcher_->tick().submitted.at(0);
  slurm_.listed[id] = LaunchState::running;
  register_launched("g1", id);
  auto l = store_->lease("g1", 30s);
  ASSERT_TRUE(l);
  for (int i = 0; i < 20; ++i) {
    clock_.advance(10s);
    store_->heartbeat(l->job.id, l->lease_id, i, 100, nullptr);
    EXPECT_TRUE(launcher_->tick().cancelled.empty());
  }
}

// A group still pending in Slurm is withdrawn once nothing for its backbone is queued (another
// group took the work), and a later job gets a new one.
TEST_F(GroupLauncherTest, PendingGroupIsWithdrawnWhenTheQueueEmpties) {
  store_->submit(make_request("a1"));
  const std::string id = launcher_->tick().submitted.at(0);
  EXPECT_TRUE(launcher_->tick().cancelled.empty());  // pending, and its job still waits
  store_->register_group(make_group("g-manual", kShaA));
  ASSERT_TRUE(store_->lease("g-manual", 30s));  // a group started by hand takes the job
  auto t = launcher_->tick();
  EXPECT_EQ(t.cancelled, std::vector<std::string>{id});
  EXPECT_EQ(slurm_.cancels, std::vector<std::string>{id});
  EXPECT_TRUE(launcher_->tick().cancelled.empty());  // not again at once
  store_->submit(make_request("a2"));                // g-manual is busy: a new group
  EXPECT_EQ(launcher_->tick().submitted.size(), 1u);
}

TEST_F(GroupLauncherTest, RunningWithoutRegisteringIsCancelledAfterTheTimeout) {
  store_->submit(make_request("a1"));
  const std::string id = launcher_->tick().submitted.at(0);
  slurm_.listed[id] = LaunchState::running;
  launcher_->tick();
  clock_.advance(59s);
  EXPECT_TRUE(launcher_->tick().cancelled.empty());
  clock_.advance(1s);
  EXPECT_EQ(launcher_->tick().cancelled, std::vector<std::string>{id});
}

TEST_F(GroupLauncherTest, EndedSlurmJobReleasesItsGroupsLeaseAtOnce) {
  const std::string job_id = store_->submit(make_request("a1")).job.id;
  const std::string id = launcher_->tick().submitted.at(0);
  slurm_.listed[id] = LaunchState::running;
  register_launched("g1", id);
  auto l = store_->lease("g1", 30s);
  ASSERT_TRUE(l);
  store_->heartbeat(job_id, l->lease_id, 5, 100, nullptr);
  launcher_->tick();
  // The Slurm job dies (node failure, scancel by hand): squeue no longer lists it. The lease
  // has 30 s left, but the job goes back to the queue at the next poll.
  slurm_.listed.erase(id);
  clock_.advance(2s);
  auto t = launcher_->tick();
  EXPECT_EQ(t.ended, std::vector<std::string>{id});
  EXPECT_EQ(t.released_jobs, std::vector<std::string>{job_id});
  Job job = store_->get(job_id);
  EXPECT_EQ(job.state, JobState::queued);
  EXPECT_EQ(job.attempts, 1);
  ASSERT_TRUE(job.error);
  EXPECT_EQ(job.error->code, "group_ended");
  EXPECT_TRUE(job.lease_id.empty());
  EXPECT_TRUE(store_->get_group("g1").ended_at);
  try {
    store_->lease("g1", 30s);
    ADD_FAILURE() << "an ended group cannot lease";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::not_found);
  }
  // The job waits again and no group serves it: a new group is submitted in the same tick.
  EXPECT_EQ(t.submitted.size(), 1u);
}

TEST_F(GroupLauncherTest, SlurmErrorsAreRetriedAtTheNextPoll) {
  store_->submit(make_request("a1"));
  slurm_.fail_submit = true;
  auto t = launcher_->tick();
  EXPECT_TRUE(t.submitted.empty());
  ASSERT_EQ(t.errors.size(), 1u);
  EXPECT_TRUE(store_->launched_jobs().empty());
  slurm_.fail_submit = false;
  const std::string id = launcher_->tick().submitted.at(0);
  // squeue failing tells nothing: nothing ends, nothing is submitted.
  slurm_.fail_states = true;
  slurm_.listed.erase(id);
  t = launcher_->tick();
  EXPECT_FALSE(t.errors.empty());
  EXPECT_TRUE(t.ended.empty());
  EXPECT_EQ(store_->launched_jobs().size(), 1u);
  slurm_.fail_states = false;
  EXPECT_EQ(launcher_->tick().ended, std::vector<std::string>{id});
}

TEST_F(GroupLauncherTest, RestartKeepsLaunchedIds) {
  const std::string job_id = store_->submit(make_request("a1")).job.id;
  const std::string id = launcher_->tick().submitted.at(0);
  slurm_.listed[id] = LaunchState::running;
  register_launched("g1", id);
  auto l = store_->lease("g1", 30s);
  ASSERT_TRUE(l);
  store_->submit(make_request("a2"));
  const std::string second = launcher_->tick().submitted.at(0);
  // The coordinator restarts: a new store on the same file, a new launcher.
  launcher_.reset();
  store_.reset();
  store_ = std::make_unique<SqliteJobStore>(dir_.path() / "jobs.db", clock_);
  reopen_launcher();
  slurm_.asked.clear();
  auto t = launcher_->tick();
  EXPECT_TRUE(t.submitted.empty());  // the second is still pending: no double submit
  ASSERT_EQ(slurm_.asked.size(), 1u);
  EXPECT_EQ(slurm_.asked[0], (std::vector<std::string>{id, second}));
  EXPECT_EQ(launcher_->counts().running, 1);
  EXPECT_EQ(launcher_->counts().pending, 1);
  // And it still ties the first to its group: when it ends, the lease is released.
  slurm_.listed.erase(id);
  t = launcher_->tick();
  EXPECT_EQ(t.released_jobs, std::vector<std::string>{job_id});
  EXPECT_EQ(store_->get(job_id).state, JobState::queued);
}

TEST_F(GroupLauncherTest, ReleaseCallbackIsUsed) {
  std::vector<std::string> released_groups;
  LauncherOptions o;
  GroupLauncher launcher(
      *store_, slurm_, clock_, o,
      [&](const std::string& group, const JobError& e) {
        released_groups.push_back(group);
        return store_->release_group(group, e);
      },
      [](const std::string&) {});
  store_->submit(make_request("a1"));
  const std::string id = launcher.tick().submitted.at(0);
  slurm_.listed[id] = LaunchState::running;
  register_launched("g1", id);
  ASSERT_TRUE(store_->lease("g1", 30s));
  slurm_.listed.erase(id);
  EXPECT_EQ(launcher.tick().released_jobs.size(), 1u);
  EXPECT_EQ(released_groups, std::vector<std::string>{"g1"});
}

}  // namespace
}  // namespace trellis
