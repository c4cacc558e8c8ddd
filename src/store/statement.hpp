// store/statement: owns one prepared SQLite statement for its lifetime (finalized on destruction) and
// turns every SQLite failure into a StoreError that names what Gatehouse was doing. Error messages
// carry SQLite's own text and the caller's purpose, never a bound value: bound values may be secrets.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

struct sqlite3;
struct sqlite3_stmt;

namespace gatehouse::store {

// Throws StoreError "could not <purpose>: <SQLite's message> (SQLite error <code>)". `db` may be null
// (then only the code's generic text is used).
[[noreturn]] void throw_sqlite_error(sqlite3* db, int result_code, std::string_view purpose);
// Same, with the reason already in hand (e.g. the message sqlite3_exec returned).
[[noreturn]] void throw_sqlite_error(std::string_view purpose, std::string_view reason,
                                     int result_code);

class Statement {
public:
  // `purpose` completes the sentence "could not …", e.g. "append an audit entry".
  Statement(sqlite3* db, std::string_view sql, std::string purpose);
  ~Statement();
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  // Parameters are 1-based, as in SQLite. Each returns *this so binds can be chained.
  Statement& bind_text(int index, std::string_view value);
  Statement& bind_int64(int index, std::int64_t value);
  Statement& bind_null(int index);

  // True when a row is ready to read, false when the statement has finished.
  bool step();
  // Runs a statement that returns no rows (INSERT/UPDATE/DELETE) to completion.
  void run();

  // Columns are 0-based, as in SQLite. A NULL column reads as "" / 0.
  std::string column_text(int index) const;
  std::int64_t column_int64(int index) const;
  bool column_is_null(int index) const;

  // Makes the statement ready to run again and clears every binding, so a value bound for one row can
  // never leak into the next.
  void reset();

  sqlite3_stmt* handle() const { return statement_; }

private:
  [[noreturn]] void fail(int result_code) const;
  void check_bind(int result_code) const;

  sqlite3* db_ = nullptr;
  sqlite3_stmt* statement_ = nullptr;
  std::string purpose_;
};

} // namespace gatehouse::store
