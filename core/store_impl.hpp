// Private to the store's .cpp files: the SQLite connection and statement helpers.
#pragma once

#include "core/store.hpp"

#include <memory>
#include <optional>
#include <sqlite3.h>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace moat {

struct DbClose {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StmtFinalize {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using Db = std::unique_ptr<sqlite3, DbClose>;
using Stmt = std::unique_ptr<sqlite3_stmt, StmtFinalize>;

/// The forward schema migrations; entry i takes user_version i to i + 1.
extern const char* const kMigrations[];
extern const int kSchemaVersion;

inline std::vector<std::uint8_t> column_blob(sqlite3_stmt* s, int i) {
  auto p = static_cast<const std::uint8_t*>(sqlite3_column_blob(s, i));
  return std::vector<std::uint8_t>(p, p + sqlite3_column_bytes(s, i));
}
inline std::string column_text(sqlite3_stmt* s, int i) {
  auto p = reinterpret_cast<const char*>(sqlite3_column_text(s, i));
  return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(s, i))) : std::string();
}

/// Lists kept in one TEXT column, separated by single spaces (their items never hold blanks).
inline std::string join_words(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& w : v)
    out += (out.empty() ? "" : " ") + w;
  return out;
}
inline std::vector<std::string> split_words(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string w; in >> w;)
    out.push_back(w);
  return out;
}

struct Store::Impl {
  Db db;

  Error error(std::string_view what) const {
    return Error{std::string(what) + ": " + sqlite3_errmsg(db.get())};
  }

  Result<Stmt> prepare(const char* sql) {
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(db.get(), sql, -1, &raw, nullptr) != SQLITE_OK)
      return std::unexpected(error("database"));
    return Stmt(raw);
  }

  // Binds each argument by position: integers, strings, byte vectors, names (as wire).
  void bind_one(sqlite3_stmt* s, int i, std::int64_t v) { sqlite3_bind_int64(s, i, v); }
  void bind_one(sqlite3_stmt* s, int i, const std::string& v) {
    sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }
  void bind_one(sqlite3_stmt* s, int i, std::string_view v) {
    sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }
  void bind_one(sqlite3_stmt* s, int i, const std::vector<std::uint8_t>& v) {
    // A zero-length blob must still bind as a blob, not NULL.
    sqlite3_bind_blob(s, i, v.empty() ? "" : static_cast<const void*>(v.data()),
                      static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }
  void bind_one(sqlite3_stmt* s, int i, const Name& v) { bind_one(s, i, v.lowercased().wire()); }

  template <class... Args> Result<Stmt> statement(const char* sql, const Args&... args) {
    auto s = prepare(sql);
    if (!s)
      return s;
    int i = 0;
    (bind_one(s->get(), ++i, args), ...);
    return s;
  }

  template <class... Args> Result<int> run(const char* sql, const Args&... args) {
    auto s = statement(sql, args...);
    if (!s)
      return std::unexpected(s.error());
    int rc = sqlite3_step(s->get());
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
      return std::unexpected(error("database"));
    return sqlite3_changes(db.get());
  }

  /// Every row of a query, each turned into a T by `read(stmt)`, which returns Result<T>.
  template <class T, class Read, class... Args>
  Result<std::vector<T>> all_rows(const char* sql, Read read, const Args&... args) {
    auto s = statement(sql, args...);
    if (!s)
      return std::unexpected(s.error());
    std::vector<T> out;
    int rc;
    while ((rc = sqlite3_step(s->get())) == SQLITE_ROW) {
      Result<T> row = read(s->get());
      if (!row)
        return std::unexpected(row.error());
      out.push_back(std::move(*row));
    }
    if (rc != SQLITE_DONE)
      return std::unexpected(error("database"));
    return out;
  }

  /// The first row of a query, turned into a T by `read(stmt)`, or nullopt when there is none.
  template <class T, class Read, class... Args>
  Result<std::optional<T>> first_row(const char* sql, Read read, const Args&... args) {
    auto s = statement(sql, args...);
    if (!s)
      return std::unexpected(s.error());
    const int rc = sqlite3_step(s->get());
    if (rc == SQLITE_DONE)
      return std::optional<T>();
    if (rc != SQLITE_ROW)
      return std::unexpected(error("database"));
    return std::optional<T>(read(s->get()));
  }
};

} // namespace moat
