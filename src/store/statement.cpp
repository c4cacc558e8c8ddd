// store/statement: the prepared-statement wrapper and the one place SQLite result codes become
// StoreErrors. Messages never include bound values or SQL text, only the purpose and SQLite's reason.
#include "store/statement.hpp"

#include <sqlite3.h>

#include <climits>
#include <utility>

#include "store/store.hpp"

namespace gatehouse::store {

void throw_sqlite_error(std::string_view purpose, std::string_view reason, int result_code) {
  std::string message = "could not ";
  message += purpose;
  message += ": ";
  message += reason.empty() ? std::string_view("unknown error") : reason;
  message += " (SQLite error ";
  message += std::to_string(result_code);
  message += ")";
  throw StoreError(message);
}

void throw_sqlite_error(sqlite3* db, int result_code, std::string_view purpose) {
  // sqlite3_errmsg describes the connection's latest failure, which is more specific than the code's
  // generic text (e.g. "no such table: kv" rather than "SQL logic error").
  const char* reason = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(result_code);
  throw_sqlite_error(purpose, reason != nullptr ? reason : "", result_code);
}

Statement::Statement(sqlite3* db, std::string_view sql, std::string purpose)
    : db_(db), purpose_(std::move(purpose)) {
  if (sql.size() > static_cast<std::size_t>(INT_MAX)) {
    throw StoreError("could not " + purpose_ + ": the SQL text is too long");
  }
  const char* unused_tail = nullptr;
  const int result = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &statement_,
                                        &unused_tail);
  if (result != SQLITE_OK) {
    sqlite3_finalize(statement_);
    statement_ = nullptr;
    fail(result);
  }
}

Statement::~Statement() { sqlite3_finalize(statement_); }

Statement::Statement(Statement&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)), statement_(std::exchange(other.statement_, nullptr)),
      purpose_(std::move(other.purpose_)) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(statement_);
    db_ = std::exchange(other.db_, nullptr);
    statement_ = std::exchange(other.statement_, nullptr);
    purpose_ = std::move(other.purpose_);
  }
  return *this;
}

Statement& Statement::bind_text(int index, std::string_view value) {
  if (value.size() > static_cast<std::size_t>(INT_MAX)) {
    throw StoreError("could not " + purpose_ + ": a value is too long to store");
  }
  // SQLITE_TRANSIENT: SQLite copies the bytes, so `value` need not outlive the statement.
  // A non-null pointer is needed even for an empty value, or SQLite binds NULL instead of ''.
  const char* bytes = value.data() != nullptr ? value.data() : "";
  check_bind(sqlite3_bind_text(statement_, index, bytes, static_cast<int>(value.size()),
                               SQLITE_TRANSIENT));
  return *this;
}

Statement& Statement::bind_int64(int index, std::int64_t value) {
  check_bind(sqlite3_bind_int64(statement_, index, static_cast<sqlite3_int64>(value)));
  return *this;
}

Statement& Statement::bind_null(int index) {
  check_bind(sqlite3_bind_null(statement_, index));
  return *this;
}

bool Statement::step() {
  const int result = sqlite3_step(statement_);
  if (result == SQLITE_ROW) return true;
  if (result == SQLITE_DONE) return false;
  fail(result);
}

void Statement::run() {
  while (step()) {
  }
}

std::string Statement::column_text(int index) const {
  const auto* text = sqlite3_column_text(statement_, index);
  if (text == nullptr) return {};
  // Byte count after column_text, as SQLite documents, so embedded NULs survive.
  const int size = sqlite3_column_bytes(statement_, index);
  return std::string(reinterpret_cast<const char*>(text), static_cast<std::size_t>(size));
}

std::int64_t Statement::column_int64(int index) const {
  return static_cast<std::int64_t>(sqlite3_column_int64(statement_, index));
}

bool Statement::column_is_null(int index) const {
  return sqlite3_column_type(statement_, index) == SQLITE_NULL;
}

void Statement::reset() {
  // sqlite3_reset repeats the last step's error code; that error was already reported by step().
  sqlite3_reset(statement_);
  sqlite3_clear_bindings(statement_);
}

void Statement::fail(int result_code) const { throw_sqlite_error(db_, result_code, purpose_); }

void Statement::check_bind(int result_code) const {
  if (result_code != SQLITE_OK) fail(result_code);
}

} // namespace gatehouse::store
