#include "coordinator/store/sqlite_db.h"

#include <sqlite3.h>

#include "common/error.h"

namespace trellis {

namespace {
[[noreturn]] void fail(sqlite3* db, const std::string& what) {
  throw Error(ErrorCode::io,
              "The job database failed (" + what + "): " + (db ? sqlite3_errmsg(db) : "out of memory") + ".");
}
}  // namespace

SqliteStatement::~SqliteStatement() { sqlite3_finalize(stmt_); }

SqliteStatement& SqliteStatement::bind(int i, int64_t v) {
  if (sqlite3_bind_int64(stmt_, i, v) != SQLITE_OK) fail(db_, "bind");
  return *this;
}

SqliteStatement& SqliteStatement::bind(int i, const std::string& v) {
  if (sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT) != SQLITE_OK)
    fail(db_, "bind");
  return *this;
}

SqliteStatement& SqliteStatement::bind(int i, const std::optional<std::string>& v) {
  if (v) return bind(i, *v);
  if (sqlite3_bind_null(stmt_, i) != SQLITE_OK) fail(db_, "bind");
  return *this;
}

SqliteStatement& SqliteStatement::bind(int i, const std::optional<int64_t>& v) {
  if (v) return bind(i, *v);
  if (sqlite3_bind_null(stmt_, i) != SQLITE_OK) fail(db_, "bind");
  return *this;
}

bool SqliteStatement::step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  fail(db_, std::string("step: ") + sqlite3_sql(stmt_));
}

void SqliteStatement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

bool SqliteStatement::is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
int64_t SqliteStatement::int64(int col) const { return sqlite3_column_int64(stmt_, col); }

std::string SqliteStatement::text(int col) const {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
  return p ? std::string(p, sqlite3_column_bytes(stmt_, col)) : std::string();
}

std::optional<std::string> SqliteStatement::opt_text(int col) const {
  if (is_null(col)) return std::nullopt;
  return text(col);
}

std::optional<int64_t> SqliteStatement::opt_int64(int col) const {
  if (is_null(col)) return std::nullopt;
  return int64(col);
}

SqliteDb::SqliteDb(const std::filesystem::path& path) {
  int rc =
      sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    throw Error(ErrorCode::io, "Cannot open the job database " + path.string() + ": " + msg + ".");
  }
  sqlite3_extended_result_codes(db_, 1);
}

SqliteDb::~SqliteDb() {
  cache_.clear();  // finalize statements before closing
  sqlite3_close(db_);
}

void SqliteDb::exec(const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errmsg(db_);
    sqlite3_free(err);
    throw Error(ErrorCode::io, "The job database failed (" + sql.substr(0, 60) + "): " + msg + ".");
  }
}

SqliteQuery SqliteDb::query(const std::string& sql) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v3(db_, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr) != SQLITE_OK)
      fail(db_, "prepare: " + sql);
    it = cache_.emplace(sql, std::make_unique<SqliteStatement>(db_, stmt)).first;
  }
  it->second->reset();
  return SqliteQuery(*it->second);
}

}  // namespace trellis
