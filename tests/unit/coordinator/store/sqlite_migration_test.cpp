// A version-1 job database (before worker groups knew their Slurm job and before the launcher's
// table) is migrated in place when the new code opens it; nothing in it is lost.
#include <gtest/gtest.h>

#include "coordinator/store/sqlite_db.h"
#include "common/error.h"
#include "tests/unit/coordinator/store/store_test_util.h"

namespace trellis {
namespace {

using namespace std::chrono_literals;

// The version-1 schema, verbatim (what a coordinator before the launcher wrote).
const char* kVersion1Schema = R"sql(
CREATE TABLE schema_version (version INTEGER NOT NULL);
CREATE TABLE groups (
  id TEXT PRIMARY KEY,
  backbone_name TEXT NOT NULL,
  backbone_sha256 TEXT NOT NULL,
  world_size INTEGER NOT NULL,
  host TEXT NOT NULL,
  last_seen INTEGER NOT NULL
);
CREATE TABLE jobs (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  spec TEXT NOT NULL,
  backbone_sha256 TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('queued','leased','running','succeeded','failed','cancelled')),
  attempts INTEGER NOT NULL,
  max_attempts INTEGER NOT NULL,
  priority INTEGER NOT NULL,
  idempotency_key TEXT UNIQUE,
  cancel_requested INTEGER NOT NULL,
  step INTEGER NOT NULL,
  total_steps INTEGER NOT NULL,
  metrics TEXT NOT NULL,
  error_code TEXT,
  error_message TEXT,
  artifact_ref TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  started_at INTEGER,
  finished_at INTEGER,
  lease_id TEXT,
  lease_group_id TEXT REFERENCES groups(id),
  lease_expires_at INTEGER,
  lease_ttl_ms INTEGER NOT NULL,
  last_event_seq INTEGER NOT NULL
);
CREATE INDEX jobs_queue ON jobs (backbone_sha256, priority DESC, seq) WHERE state = 'queued';
CREATE INDEX jobs_live ON jobs (lease_expires_at) WHERE state IN ('leased', 'running');
CREATE INDEX jobs_state ON jobs (state, seq);
CREATE TABLE events (
  job_id TEXT NOT NULL REFERENCES jobs(id),
  seq INTEGER NOT NULL,
  time INTEGER NOT NULL,
  kind TEXT NOT NULL,
  payload TEXT NOT NULL,
  PRIMARY KEY (job_id, seq)
) WITHOUT ROWID;
INSERT INTO schema_version (version) VALUES (1);
)sql";

TEST(SqliteMigration, Version1DatabaseIsMigrated) {
  test::TempDir dir;
  FakeClock clock;
  const auto path = dir.path() / "jobs.db";
  const int64_t now_ms = millis_since_epoch(clock.now());
  const std::string lease_expiry = std::to_string(now_ms + 60'000);
  const std::string spec = to_json(test::make_spec("old")).dump();
  {
    SqliteDb db(path);
    db.exec(kVersion1Schema);
    db.exec("INSERT INTO groups VALUES ('g-old', 'all-MiniLM-L6-v2', '" + test::kShaA + "', 2, 'node7', " +
            std::to_string(now_ms) + ")");
    db.exec("INSERT INTO jobs VALUES (1, 'j-old', '" + spec + "', '" + test::kShaA +
            "', 'running', 0, 3, 0, NULL, 0, 5, 10, '{}', NULL, NULL, '', " + std::to_string(now_ms) + ", " +
            std::to_string(now_ms) + ", " + std::to_string(now_ms) + ", NULL, 'l-old', 'g-old', " + lease_expiry +
            ", 60000, 2)");
    db.exec("INSERT INTO events VALUES ('j-old', 1, " + std::to_string(now_ms) +
            ", 'state', '{\"from\":null,\"to\":\"queued\",\"attempts\":0}')");
    db.exec("INSERT INTO events VALUES ('j-old', 2, " + std::to_string(now_ms) +
            ", 'state', '{\"from\":\"queued\",\"to\":\"running\",\"attempts\":0}')");
  }
  {
    SqliteJobStore s(path, clock);  // migrates, does not refuse
    Group g = s.get_group("g-old");
    EXPECT_EQ(g.host, "node7");
    EXPECT_EQ(g.slurm_job_id, "");
    EXPECT_FALSE(g.ended_at);
    Job job = s.get("j-old");
    EXPECT_EQ(job.state, JobState::running);
    EXPECT_EQ(job.preemptions, 0);  // version 3's column, filled for old rows
    EXPECT_EQ(job.lease_group_id, "g-old");
    EXPECT_EQ(s.events("j-old", 0, 10).size(), 2u);
    EXPECT_TRUE(s.launched_jobs().empty());
    // The new operations work on the migrated file.
    Group again = g;
    again.slurm_job_id = "900";
    s.register_group(again);
    s.record_launch(LaunchedJob{"900", "all-MiniLM-L6-v2", test::kShaA, LaunchState::running, clock.now(), {}, {}});
    EXPECT_EQ(s.release_group("g-old", JobError{"group_ended", "gone"}), std::vector<std::string>{"j-old"});
    EXPECT_EQ(s.get("j-old").state, JobState::queued);
    EXPECT_EQ(s.get("j-old").attempts, 1);
  }
  {
    SqliteDb db(path);
    auto q = db.query("SELECT version FROM schema_version");
    ASSERT_TRUE(q->step());
    EXPECT_EQ(q->int64(0), SqliteJobStore::kSchemaVersion);
    EXPECT_EQ(SqliteJobStore::kSchemaVersion, 3);
  }
  // Reopening the migrated file keeps everything.
  SqliteJobStore s(path, clock);
  EXPECT_EQ(s.get_group("g-old").slurm_job_id, "900");
  EXPECT_TRUE(s.get_group("g-old").ended_at);
  EXPECT_EQ(s.launched_jobs().at(0).slurm_job_id, "900");
}

TEST(SqliteMigration, NewFileHasTheCurrentVersion) {
  test::TempDir dir;
  FakeClock clock;
  const auto path = dir.path() / "jobs.db";
  { SqliteJobStore s(path, clock); }
  SqliteDb db(path);
  auto q = db.query("SELECT version FROM schema_version");
  ASSERT_TRUE(q->step());
  EXPECT_EQ(q->int64(0), 3);
}

}  // namespace
}  // namespace trellis
