#pragma once
// A thin RAII layer over the SQLite C API: one connection and its prepared statements.
// Failures throw Error(io) with SQLite's message. Not thread-safe: the owner serialises.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

struct sqlite3;
struct sqlite3_stmt;

namespace trellis {

class SqliteStatement {
 public:
  SqliteStatement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  ~SqliteStatement();
  SqliteStatement(const SqliteStatement&) = delete;
  SqliteStatement& operator=(const SqliteStatement&) = delete;

  // Binds by 1-based index; nullopt binds NULL.
  SqliteStatement& bind(int i, int64_t v);
  SqliteStatement& bind(int i, const std::string& v);
  SqliteStatement& bind(int i, const std::optional<std::string>& v);
  SqliteStatement& bind(int i, const std::optional<int64_t>& v);
  bool step();   // true: a row is ready; false: done
  void reset();  // resets and clears the bindings (done before each use by SqliteDb::prepare)

  bool is_null(int col) const;
  int64_t int64(int col) const;
  std::string text(int col) const;
  std::optional<std::string> opt_text(int col) const;
  std::optional<int64_t> opt_int64(int col) const;

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
};

// A statement in use: resets it (ending its read) when it goes out of scope.
class SqliteQuery {
 public:
  explicit SqliteQuery(SqliteStatement& s) : s_(s) {}
  ~SqliteQuery() { s_.reset(); }
  SqliteQuery(const SqliteQuery&) = delete;
  SqliteQuery& operator=(const SqliteQuery&) = delete;
  SqliteStatement* operator->() { return &s_; }
  SqliteStatement& operator*() { return s_; }

 private:
  SqliteStatement& s_;
};

class SqliteDb {
 public:
  explicit SqliteDb(const std::filesystem::path& path);  // opens or creates
  ~SqliteDb();
  SqliteDb(const SqliteDb&) = delete;
  SqliteDb& operator=(const SqliteDb&) = delete;

  void exec(const std::string& sql);
  // A cached prepared statement for `sql`, reset and ready to bind.
  SqliteQuery query(const std::string& sql);

 private:
  sqlite3* db_ = nullptr;
  std::unordered_map<std::string, std::unique_ptr<SqliteStatement>> cache_;
};

}  // namespace trellis
