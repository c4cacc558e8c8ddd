// store: owns Gatehouse's durable state in one SQLite file in data_dir (WAL mode). Schema changes are
// numbered migrations applied in order at open, each in its own transaction; a database written by a
// newer Gatehouse is refused rather than guessed at. One writer: every write goes through one
// connection under one lock, so callers never see SQLITE_BUSY from each other; reads use their own
// connection and see the last committed state (WAL).
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "store/migrations.hpp"
#include "store/statement.hpp"

struct sqlite3;

namespace gatehouse::store {

class StoreError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

// Statement (store/statement.hpp): a small RAII wrapper around one prepared statement; bind by
// 1-based index.

struct AuditEntry {
  std::int64_t id = 0;
  std::int64_t at_unix_ms = 0;
  std::string event;   // e.g. "login.success", "login.refused", "breakglass.opened"
  std::string subject; // user or device the event is about ("" if none)
  std::string client_address;
  std::string detail;  // JSON object text, never a secret
};

class Store {
public:
  // Opens (creating if needed) data_dir/gatehouse.db, sets WAL, applies pending migrations.
  // Creates data_dir with mode 0700 if missing. Throws StoreError with a message that says what to do.
  static std::unique_ptr<Store> open(const std::filesystem::path& data_dir);
  // Same, with an explicit migration list instead of gatehouse_migrations(). For tests that show how
  // a database moves to the next schema version, or how a failing migration is rolled back.
  static std::unique_ptr<Store> open(const std::filesystem::path& data_dir,
                                     std::span<const Migration> migrations);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // The database's schema version (after open it equals the latest migration it was opened with).
  int schema_version() const;
  // The newest version in gatehouse_migrations().
  static int latest_schema_version();
  std::filesystem::path database_path() const { return path_; }

  // Runs `work` inside one write transaction on the writer connection (commit on return, rollback on
  // throw). The lock makes this the only writer in the process.
  // Calling write() from inside `work` throws StoreError instead of deadlocking.
  void write(const std::function<void(sqlite3*)>& work);
  // Runs `work` on the read connection (its own lock; WAL lets it run beside a writer), inside one
  // read transaction so every query in `work` sees the same committed snapshot. The connection is
  // read-only: writes belong in write(). Inside write(), read() does not see that write's changes.
  void read(const std::function<void(sqlite3*)>& work) const;

  // Stores `entry` as given (entry.id is ignored; at_unix_ms comes from the caller's clock). An empty
  // detail is stored as "{}".
  void append_audit(const AuditEntry& entry);
  // Removes at most `max_rows` of the oldest entries from before `before_unix_ms`; returns how many.
  std::size_t forget_audit_before(std::int64_t before_unix_ms, std::size_t max_rows);
  // Newest last; `since_unix_ms` (inclusive), `subject` and `event` filter when set; at most `limit` rows
  // (newest kept). Newest means latest at_unix_ms, then latest id.
  std::vector<AuditEntry> audit(std::optional<std::int64_t> since_unix_ms,
                                std::optional<std::string> subject, std::size_t limit = 1000,
                                std::optional<std::string> event = std::nullopt) const;

  // Small facts about this gateway, kept in table kv. Not for secrets (they belong in 0600 files).
  void set_gateway_fact(std::string_view key, std::string_view value);
  std::optional<std::string> gateway_fact(std::string_view key) const;

private:
  Store() = default;
  std::filesystem::path path_;
  sqlite3* writer_ = nullptr;
  sqlite3* reader_ = nullptr;
  mutable std::mutex write_mutex_;
  mutable std::mutex read_mutex_;
  int schema_version_ = 0;
  // The thread inside write(), so a nested write() fails loudly instead of deadlocking on write_mutex_.
  std::atomic<std::thread::id> writing_thread_;
};

// Wall-clock time as stored in the database (audit entries, expiries).
std::int64_t now_unix_ms();
// That time as RFC 3339 UTC with milliseconds: "2026-12-02T20:55:52.123Z".
std::string iso_time(std::int64_t unix_ms);

// Executes SQL text with no results; throws StoreError naming the statement's purpose on failure.
void exec(sqlite3* db, const char* sql, const char* purpose);

} // namespace gatehouse::store
