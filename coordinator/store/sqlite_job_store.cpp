#include "coordinator/store/sqlite_job_store.h"

#include <iterator>

#include "coordinator/store/sqlite_db.h"
#include "common/error.h"

namespace trellis {

namespace {

// Version 1: created as is, then brought up to date by kMigrations (so a new file and a
// migrated one are the same).
const char* kSchemaV1 = R"sql(
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
)sql";

// kMigrations[i] takes the schema from version i + 1 to i + 2.
const char* kMigrations[] = {
    // 2: groups learn their Slurm job and when they ended; the launcher's submitted Slurm jobs.
    R"sql(
ALTER TABLE groups ADD COLUMN slurm_job_id TEXT;
ALTER TABLE groups ADD COLUMN ended_at INTEGER;
CREATE TABLE launched_jobs (
  seq INTEGER PRIMARY KEY,
  slurm_job_id TEXT NOT NULL UNIQUE,
  backbone_name TEXT NOT NULL,
  backbone_sha256 TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('pending','running','ended')),
  submitted_at INTEGER NOT NULL,
  cancel_requested_at INTEGER,
  ended_at INTEGER
);
CREATE INDEX launched_jobs_active ON launched_jobs (seq) WHERE state != 'ended';
CREATE INDEX jobs_group ON jobs (lease_group_id) WHERE state IN ('leased', 'running');
)sql",
    // 3: hand-backs (pre-emptions) are counted apart from failures.
    R"sql(
ALTER TABLE jobs ADD COLUMN preemptions INTEGER NOT NULL DEFAULT 0;
)sql",
};
static_assert(std::size(kMigrations) + 1 == SqliteJobStore::kSchemaVersion);

const char* kJobColumns =
    "seq, id, spec, backbone_sha256, state, attempts, max_attempts, priority, idempotency_key, "
    "cancel_requested, step, total_steps, metrics, error_code, error_message, artifact_ref, "
    "created_at, updated_at, started_at, finished_at, lease_id, lease_group_id, lease_expires_at, "
    "lease_ttl_ms, last_event_seq, preemptions";

std::optional<int64_t> opt_ms(const std::optional<Time>& t) {
  if (!t) return std::nullopt;
  return millis_since_epoch(*t);
}

std::optional<Time> opt_time(const std::optional<int64_t>& ms) {
  if (!ms) return std::nullopt;
  return from_millis(*ms);
}

std::optional<std::string> opt_nonempty(const std::string& s) {
  if (s.empty()) return std::nullopt;
  return s;
}

Job read_job(SqliteStatement& s) {
  Job j;
  j.submit_seq = s.int64(0);
  j.id = s.text(1);
  j.spec = parse_job_spec(nlohmann::json::parse(s.text(2)), "stored job " + j.id);
  j.backbone_sha256 = s.text(3);
  j.state = parse_job_state(s.text(4));
  j.attempts = static_cast<int>(s.int64(5));
  j.max_attempts = static_cast<int>(s.int64(6));
  j.priority = static_cast<int>(s.int64(7));
  j.idempotency_key = s.opt_text(8);
  j.cancel_requested = s.int64(9) != 0;
  j.step = s.int64(10);
  j.total_steps = s.int64(11);
  j.metrics = nlohmann::json::parse(s.text(12));
  if (auto code = s.opt_text(13)) j.error = JobError{*code, s.text(14)};
  j.artifact_ref = s.text(15);
  j.created_at = from_millis(s.int64(16));
  j.updated_at = from_millis(s.int64(17));
  j.started_at = opt_time(s.opt_int64(18));
  j.finished_at = opt_time(s.opt_int64(19));
  j.lease_id = s.opt_text(20).value_or("");
  j.lease_group_id = s.opt_text(21).value_or("");
  j.lease_expires_at = opt_time(s.opt_int64(22));
  j.lease_ttl = std::chrono::milliseconds(s.int64(23));
  j.last_event_seq = s.int64(24);
  j.preemptions = static_cast<int>(s.int64(25));
  return j;
}

}  // namespace

SqliteJobStore::SqliteJobStore(const std::filesystem::path& path, const Clock& clock)
    : BasicJobStore(clock), path_(path), db_(std::make_unique<SqliteDb>(path)) {
  db_->exec("PRAGMA busy_timeout = 5000");
  db_->exec("PRAGMA journal_mode = WAL");
  db_->exec("PRAGMA synchronous = FULL");
  db_->exec("PRAGMA foreign_keys = ON");
  db_->exec("BEGIN IMMEDIATE");
  try {
    bool exists = false;
    {
      auto q = db_->query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'");
      exists = q->step();
    }
    int64_t version = 1;
    if (!exists) {
      db_->exec(kSchemaV1);
      db_->query("INSERT INTO schema_version (version) VALUES (1)")->step();
    } else {
      auto q = db_->query("SELECT version FROM schema_version");
      version = q->step() ? q->int64(0) : -1;
      if (version < 1 || version > kSchemaVersion)
        throw Error(ErrorCode::io, "The job database " + path.string() + " has schema version " +
                                       std::to_string(version) + "; this build knows versions 1 to " +
                                       std::to_string(kSchemaVersion) + ".");
    }
    // Older files are migrated in place (inside this transaction: all or nothing).
    for (; version < kSchemaVersion; ++version) db_->exec(kMigrations[version - 1]);
    db_->query("UPDATE schema_version SET version = ?")->bind(1, int64_t{kSchemaVersion}).step();
    db_->exec("COMMIT");
  } catch (...) {
    try {
      db_->exec("ROLLBACK");
    } catch (...) {
    }
    throw;
  }
}

SqliteJobStore::~SqliteJobStore() = default;

void SqliteJobStore::begin() { db_->exec("BEGIN IMMEDIATE"); }
void SqliteJobStore::commit() { db_->exec("COMMIT"); }
void SqliteJobStore::rollback() noexcept {
  try {
    db_->exec("ROLLBACK");
  } catch (...) {
  }
}

std::optional<Job> SqliteJobStore::load_job(const std::string& job_id) {
  auto q = db_->query(std::string("SELECT ") + kJobColumns + " FROM jobs WHERE id = ?");
  q->bind(1, job_id);
  if (!q->step()) return std::nullopt;
  return read_job(*q);
}

std::optional<std::string> SqliteJobStore::job_id_for_key(const std::string& key) {
  auto q = db_->query("SELECT id FROM jobs WHERE idempotency_key = ?");
  q->bind(1, key);
  if (!q->step()) return std::nullopt;
  return q->text(0);
}

int64_t SqliteJobStore::max_submit_seq() {
  auto q = db_->query("SELECT COALESCE(MAX(seq), 0) FROM jobs");
  q->step();
  return q->int64(0);
}

void SqliteJobStore::write_job(const std::string& sql, const Job& j) {
  auto q = db_->query(sql);
  q->bind(1, j.submit_seq)
      .bind(2, j.id)
      .bind(3, to_json(j.spec).dump())
      .bind(4, j.backbone_sha256)
      .bind(5, to_string(j.state))
      .bind(6, int64_t{j.attempts})
      .bind(7, int64_t{j.max_attempts})
      .bind(8, int64_t{j.priority})
      .bind(9, j.idempotency_key)
      .bind(10, int64_t{j.cancel_requested ? 1 : 0})
      .bind(11, j.step)
      .bind(12, j.total_steps)
      .bind(13, j.metrics.dump())
      .bind(14, j.error ? std::optional<std::string>(j.error->code) : std::nullopt)
      .bind(15, j.error ? std::optional<std::string>(j.error->message) : std::nullopt)
      .bind(16, j.artifact_ref)
      .bind(17, millis_since_epoch(j.created_at))
      .bind(18, millis_since_epoch(j.updated_at))
      .bind(19, opt_ms(j.started_at))
      .bind(20, opt_ms(j.finished_at))
      .bind(21, opt_nonempty(j.lease_id))
      .bind(22, opt_nonempty(j.lease_group_id))
      .bind(23, opt_ms(j.lease_expires_at))
      .bind(24, static_cast<int64_t>(j.lease_ttl.count()))
      .bind(25, j.last_event_seq)
      .bind(26, int64_t{j.preemptions});
  q->step();
}

void SqliteJobStore::insert_job(const Job& job) {
  write_job(std::string("INSERT INTO jobs (") + kJobColumns +
                ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            job);
}

void SqliteJobStore::update_job(const Job& job) {
  // seq (?1) and id (?2) identify the row; the other columns are rewritten.
  write_job(
      "UPDATE jobs SET spec = ?3, backbone_sha256 = ?4, state = ?5, attempts = ?6, "
      "max_attempts = ?7, priority = ?8, idempotency_key = ?9, cancel_requested = ?10, step = ?11, "
      "total_steps = ?12, metrics = ?13, error_code = ?14, error_message = ?15, artifact_ref = ?16, "
      "created_at = ?17, updated_at = ?18, started_at = ?19, finished_at = ?20, lease_id = ?21, "
      "lease_group_id = ?22, lease_expires_at = ?23, lease_ttl_ms = ?24, last_event_seq = ?25, "
      "preemptions = ?26 WHERE seq = ?1 AND id = ?2",
      job);
}

void SqliteJobStore::insert_event(const JobEvent& e) {
  auto q = db_->query("INSERT INTO events (job_id, seq, time, kind, payload) VALUES (?, ?, ?, ?, ?)");
  q->bind(1, e.job_id)
      .bind(2, e.seq)
      .bind(3, millis_since_epoch(e.time))
      .bind(4, to_string(e.kind))
      .bind(5, e.payload.dump());
  q->step();
}

std::vector<JobEvent> SqliteJobStore::load_events(const std::string& job_id, int64_t after_seq, int limit) {
  auto q = db_->query("SELECT seq, time, kind, payload FROM events WHERE job_id = ? AND seq > ? ORDER BY seq LIMIT ?");
  q->bind(1, job_id).bind(2, after_seq).bind(3, int64_t{limit});
  std::vector<JobEvent> out;
  while (q->step())
    out.push_back(JobEvent{job_id, q->int64(0), from_millis(q->int64(1)), parse_event_kind(q->text(2)),
                           nlohmann::json::parse(q->text(3))});
  return out;
}

std::optional<std::string> SqliteJobStore::next_queued(const std::string& sha) {
  auto q = db_->query(
      "SELECT id FROM jobs WHERE state = 'queued' AND backbone_sha256 = ? "
      "ORDER BY priority DESC, seq LIMIT 1");
  q->bind(1, sha);
  if (!q->step()) return std::nullopt;
  return q->text(0);
}

int64_t SqliteJobStore::count_queued_ahead(const Job& job, int64_t cap) {
  auto q = db_->query(
      "SELECT COUNT(*) FROM (SELECT 1 FROM jobs WHERE state = 'queued' AND backbone_sha256 = ?1 "
      "AND (priority > ?2 OR (priority = ?2 AND seq < ?3)) LIMIT ?4)");
  q->bind(1, job.backbone_sha256).bind(2, int64_t{job.priority}).bind(3, job.submit_seq).bind(4, cap);
  q->step();
  return q->int64(0);
}

std::vector<Job> SqliteJobStore::query_jobs(const ListQuery& query, int64_t after_seq) {
  auto q = db_->query(std::string("SELECT ") + kJobColumns +
                      " FROM jobs WHERE seq > ?1 AND (?2 IS NULL OR state = ?2) "
                      "AND (?3 IS NULL OR json_extract(spec, '$.task') = ?3) ORDER BY seq LIMIT ?4");
  q->bind(1, after_seq)
      .bind(2, query.state ? std::optional<std::string>(to_string(*query.state)) : std::nullopt)
      .bind(3, query.task)
      .bind(4, int64_t{query.limit});
  std::vector<Job> out;
  while (q->step()) out.push_back(read_job(*q));
  return out;
}

std::vector<std::string> SqliteJobStore::expired_jobs(Time now) {
  auto q =
      db_->query("SELECT id FROM jobs WHERE state IN ('leased', 'running') AND lease_expires_at <= ? ORDER BY seq");
  q->bind(1, millis_since_epoch(now));
  std::vector<std::string> out;
  while (q->step()) out.push_back(q->text(0));
  return out;
}

namespace {
const char* kGroupColumns = "id, backbone_name, backbone_sha256, world_size, host, last_seen, slurm_job_id, ended_at";

Group read_group(SqliteStatement& q) {
  Group g{q.text(0), q.text(1), q.text(2), static_cast<int>(q.int64(3)), q.text(4), from_millis(q.int64(5))};
  g.slurm_job_id = q.opt_text(6).value_or("");
  g.ended_at = opt_time(q.opt_int64(7));
  return g;
}

const char* kLaunchColumns =
    "slurm_job_id, backbone_name, backbone_sha256, state, submitted_at, cancel_requested_at, ended_at";

LaunchedJob read_launch(SqliteStatement& q) {
  LaunchedJob l;
  l.slurm_job_id = q.text(0);
  l.backbone_name = q.text(1);
  l.backbone_sha256 = q.text(2);
  l.state = parse_launch_state(q.text(3));
  l.submitted_at = from_millis(q.int64(4));
  l.cancel_requested_at = opt_time(q.opt_int64(5));
  l.ended_at = opt_time(q.opt_int64(6));
  return l;
}
}  // namespace

std::optional<Group> SqliteJobStore::load_group(const std::string& group_id) {
  auto q = db_->query(std::string("SELECT ") + kGroupColumns + " FROM groups WHERE id = ?");
  q->bind(1, group_id);
  if (!q->step()) return std::nullopt;
  return read_group(*q);
}

void SqliteJobStore::save_group(const Group& g) {
  auto q = db_->query(
      "INSERT INTO groups (id, backbone_name, backbone_sha256, world_size, host, last_seen, slurm_job_id, ended_at) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (id) DO UPDATE SET backbone_name = ?2, "
      "backbone_sha256 = ?3, world_size = ?4, host = ?5, last_seen = ?6, slurm_job_id = ?7, ended_at = ?8");
  q->bind(1, g.id)
      .bind(2, g.backbone_name)
      .bind(3, g.backbone_sha256)
      .bind(4, int64_t{g.world_size})
      .bind(5, g.host)
      .bind(6, millis_since_epoch(g.last_seen))
      .bind(7, opt_nonempty(g.slurm_job_id))
      .bind(8, opt_ms(g.ended_at));
  q->step();
}

std::vector<std::string> SqliteJobStore::live_jobs_of_group(const std::string& group_id) {
  auto q = db_->query("SELECT id FROM jobs WHERE state IN ('leased', 'running') AND lease_group_id = ? ORDER BY seq");
  q->bind(1, group_id);
  std::vector<std::string> out;
  while (q->step()) out.push_back(q->text(0));
  return out;
}

std::vector<Group> SqliteJobStore::load_groups_seen_since(Time t) {
  auto q = db_->query(std::string("SELECT ") + kGroupColumns +
                      " FROM groups WHERE ended_at IS NULL AND last_seen >= ? ORDER BY id");
  q->bind(1, millis_since_epoch(t));
  std::vector<Group> out;
  while (q->step()) out.push_back(read_group(*q));
  return out;
}

std::map<std::string, int64_t> SqliteJobStore::count_live_by_group() {
  auto q = db_->query(
      "SELECT lease_group_id, COUNT(*) FROM jobs WHERE state IN ('leased', 'running') GROUP BY lease_group_id");
  std::map<std::string, int64_t> out;
  while (q->step()) out[q->opt_text(0).value_or("")] = q->int64(1);
  return out;
}

std::map<std::string, QueuedBackbone> SqliteJobStore::count_queued_by_backbone() {
  // The name comes from the first queued job of each backbone (SQLite takes a bare column from
  // the MIN() row).
  auto q = db_->query(
      "SELECT backbone_sha256, json_extract(spec, '$.backbone'), MIN(seq), COUNT(*) FROM jobs "
      "WHERE state = 'queued' GROUP BY backbone_sha256");
  std::map<std::string, QueuedBackbone> out;
  while (q->step()) out[q->text(0)] = QueuedBackbone{q->opt_text(1).value_or(""), q->int64(3)};
  return out;
}

void SqliteJobStore::save_launch(const LaunchedJob& l) {
  auto q = db_->query(
      "INSERT INTO launched_jobs (slurm_job_id, backbone_name, backbone_sha256, state, submitted_at, "
      "cancel_requested_at, ended_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (slurm_job_id) DO UPDATE "
      "SET backbone_name = ?2, backbone_sha256 = ?3, state = ?4, submitted_at = ?5, cancel_requested_at = ?6, "
      "ended_at = ?7");
  q->bind(1, l.slurm_job_id)
      .bind(2, l.backbone_name)
      .bind(3, l.backbone_sha256)
      .bind(4, to_string(l.state))
      .bind(5, millis_since_epoch(l.submitted_at))
      .bind(6, opt_ms(l.cancel_requested_at))
      .bind(7, opt_ms(l.ended_at));
  q->step();
}

std::vector<LaunchedJob> SqliteJobStore::load_launches(bool include_ended) {
  auto q = db_->query(std::string("SELECT ") + kLaunchColumns +
                      " FROM launched_jobs WHERE ?1 OR state != 'ended' ORDER BY seq");
  q->bind(1, int64_t{include_ended ? 1 : 0});
  std::vector<LaunchedJob> out;
  while (q->step()) out.push_back(read_launch(*q));
  return out;
}

std::map<JobState, int64_t> SqliteJobStore::count_jobs_by_state() {
  std::map<JobState, int64_t> out;
  auto q = db_->query("SELECT state, COUNT(*) FROM jobs GROUP BY state");
  while (q->step()) out[parse_job_state(q->text(0))] = q->int64(1);
  return out;
}

int64_t SqliteJobStore::count_groups_seen_since(Time t) {
  auto q = db_->query("SELECT COUNT(*) FROM groups WHERE last_seen >= ?");
  q->bind(1, millis_since_epoch(t));
  q->step();
  return q->int64(0);
}

}  // namespace trellis
