// SqliteJobStore durability: reopening sees everything; a process killed right after submit()
// returned leaves the job in the file.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "common/error.h"
#include "coordinator/store/sqlite_db.h"
#include "tests/unit/coordinator/store/store_test_util.h"

namespace trellis {
namespace {

using namespace std::chrono_literals;
using test::make_group;
using test::make_request;

TEST(SqliteDurability, ReopenedStoreSeesEverything) {
  test::TempDir dir;
  FakeClock clock;
  const auto path = dir.path() / "jobs.db";
  std::string done_id, running_id, queued_id, lease_id;
  std::vector<JobEvent> events_before;
  {
    SqliteJobStore s(path, clock);
    s.register_group(make_group("g1"));
    auto r = make_request("done");
    r.idempotency_key = "k1";
    done_id = s.submit(r).job.id;
    running_id = s.submit(make_request("running", 0)).job.id;
    queued_id = s.submit(make_request("queued", -1)).job.id;
    auto l1 = s.lease("g1", 10s);
    s.heartbeat(l1->job.id, l1->lease_id, 7, 9, {{"loss", 0.25}});
    s.complete(l1->job.id, l1->lease_id, "done@1");
    auto l2 = s.lease("g1", 10s);
    ASSERT_EQ(l2->job.id, running_id);
    s.heartbeat(l2->job.id, l2->lease_id, 3, 9, nullptr);
    s.cancel(running_id);
    lease_id = l2->lease_id;
    events_before = s.events(done_id, 0, 1000);
  }
  SqliteJobStore s(path, clock);
  Job done = s.get(done_id);
  EXPECT_EQ(done.state, JobState::succeeded);
  EXPECT_EQ(done.artifact_ref, "done@1");
  EXPECT_EQ(done.metrics.at("loss"), 0.25);
  EXPECT_EQ(done.step, 7);
  EXPECT_EQ(s.events(done_id, 0, 1000), events_before);
  Job running = s.get(running_id);
  EXPECT_EQ(running.state, JobState::running);
  EXPECT_TRUE(running.cancel_requested);
  EXPECT_EQ(running.lease_id, lease_id);
  EXPECT_EQ(s.heartbeat(running_id, lease_id, 4, 9, nullptr), HeartbeatAction::cancel);
  EXPECT_EQ(s.queue_position(queued_id), 0);
  auto again = make_request("done");
  again.idempotency_key = "k1";
  auto r = s.submit(again);
  EXPECT_FALSE(r.created);
  EXPECT_EQ(r.job.id, done_id);
  EXPECT_EQ(s.get_group("g1").world_size, 2);
  EXPECT_EQ(s.list({}).size(), 3u);
}

TEST(SqliteDurability, JobSurvivesSigkillRightAfterSubmit) {
  test::TempDir dir;
  const auto path = dir.path() / "jobs.db";
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(fds[0]);
    SystemClock clock;
    SqliteJobStore s(path, clock);
    std::string id = s.submit(make_request("killed")).job.id + "\n";
    (void)!write(fds[1], id.data(), id.size());
    pause();  // the parent kills us here, with the connection open and nothing closed
    _exit(0);
  }
  close(fds[1]);
  std::string id;
  char c;
  while (read(fds[0], &c, 1) == 1 && c != '\n') id += c;
  close(fds[0]);
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status));
  ASSERT_EQ(id.size(), 34u);
  FakeClock clock;
  SqliteJobStore s(path, clock);
  Job j = s.get(id);
  EXPECT_EQ(j.state, JobState::queued);
  EXPECT_EQ(j.spec.task, "killed");
  EXPECT_EQ(s.events(id, 0, 10).size(), 1u);
}

TEST(SqliteDurability, UnknownSchemaVersionIsRefused) {
  test::TempDir dir;
  FakeClock clock;
  const auto path = dir.path() / "jobs.db";
  { SqliteJobStore s(path, clock); }
  {
    // Bump the version behind the store's back.
    SqliteDb db(path);
    db.exec("UPDATE schema_version SET version = 99");
  }
  try {
    SqliteJobStore s(path, clock);
    FAIL() << "expected an io error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::io);
    EXPECT_NE(std::string(e.what()).find("99"), std::string::npos) << e.what();
  }
}

TEST(SqliteDurability, FileIsInWalMode) {
  test::TempDir dir;
  FakeClock clock;
  const auto path = dir.path() / "jobs.db";
  { SqliteJobStore s(path, clock); }
  SqliteDb db(path);
  auto q = db.query("PRAGMA journal_mode");
  ASSERT_TRUE(q->step());
  EXPECT_EQ(q->text(0), "wal");
}

TEST(SqliteDurability, ConcurrentCallersAreSerialised) {
  test::TempDir dir;
  FakeClock clock;
  SqliteJobStore s(dir.path() / "jobs.db", clock);
  s.register_group(make_group("g1"));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 10; ++i) {
        s.submit(make_request("t"));
        if (auto l = s.lease("g1", 10s)) s.complete(l->job.id, l->lease_id, "t@1");
      }
    });
  for (auto& t : threads) t.join();
  ListQuery q;
  q.limit = 1000;
  auto jobs = s.list(q);
  ASSERT_EQ(jobs.size(), 40u);
  std::set<int64_t> seqs;
  for (const auto& j : jobs) seqs.insert(j.submit_seq);
  EXPECT_EQ(seqs.size(), 40u);
}

}  // namespace
}  // namespace trellis
