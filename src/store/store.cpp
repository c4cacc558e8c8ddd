// store: opening Gatehouse's database safely (data dir, file modes, WAL, migrations, refusing newer
// schemas), the single-writer / separate-reader discipline, and the audit log and gateway facts.
#include "store/store.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <system_error>

#include "os/file_descriptor.hpp"

namespace gatehouse::store {

namespace fs = std::filesystem;

namespace {

constexpr const char* kDatabaseFileName = "gatehouse.db";
// Long enough to ride out another process's write (e.g. `gatehouse audit` beside the server), short
// enough that a stuck lock surfaces as an error instead of a hang.
constexpr int kBusyTimeoutMs = 5000;

std::string quoted(const fs::path& path) { return "'" + path.string() + "'"; }

std::string errno_text(int error_number) { return std::strerror(error_number); }

std::int64_t now_unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Creates data_dir (owner-only) if missing and insists it is a directory this user can write, since
// SQLite must create the -wal and -shm files beside the database.
void prepare_data_dir(const fs::path& data_dir) {
  if (data_dir.empty()) {
    throw StoreError("data_dir is empty; set data_dir to a directory Gatehouse may write, "
                     "for example /var/lib/gatehouse");
  }
  std::error_code error;
  fs::file_status status = fs::status(data_dir, error);
  if (error && status.type() != fs::file_type::not_found) {
    throw StoreError("could not inspect data_dir " + quoted(data_dir) + ": " + error.message() +
                     "; check that the user Gatehouse runs as can reach it");
  }
  if (status.type() == fs::file_type::not_found) {
    const fs::path parent = data_dir.parent_path();
    if (!parent.empty()) fs::create_directories(parent, error);
    if (error) {
      throw StoreError("could not create data_dir " + quoted(data_dir) + ": " + error.message() +
                       "; create it yourself (mode 0700, owned by the user Gatehouse runs as) or "
                       "choose another data_dir");
    }
    if (::mkdir(data_dir.c_str(), 0700) == 0) {
      // mkdir's mode is filtered by the umask; chmod is not, so the result is exactly 0700.
      ::chmod(data_dir.c_str(), 0700);
    } else if (errno != EEXIST) {
      const int mkdir_error = errno;
      throw StoreError("could not create data_dir " + quoted(data_dir) + ": " +
                       errno_text(mkdir_error) +
                       "; create it yourself (mode 0700, owned by the user Gatehouse runs as) or "
                       "choose another data_dir");
    }
    status = fs::status(data_dir, error);
  }
  if (!fs::is_directory(status)) {
    throw StoreError("data_dir " + quoted(data_dir) +
                     " exists but is not a directory; point data_dir at a directory (or move that "
                     "file out of the way)");
  }
  if (::access(data_dir.c_str(), W_OK | X_OK) != 0) {
    const int access_error = errno;
    throw StoreError("data_dir " + quoted(data_dir) + " is not writable by this user (uid " +
                     std::to_string(::geteuid()) + "): " + errno_text(access_error) +
                     "; give it to the user Gatehouse runs as (chown) or choose another data_dir");
  }
}

// Creates the database file with mode 0600 before SQLite sees it: SQLite gives its -wal and -shm
// files the database file's mode, so getting this one right covers all three from the start.
void create_database_file_if_missing(const fs::path& path) {
  const os::FileDescriptor file(::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!file.is_open()) {
    if (errno == EEXIST) return;
    const int open_error = errno;
    throw StoreError("could not create database " + quoted(path) + ": " + errno_text(open_error) +
                     "; check that data_dir is writable by the user Gatehouse runs as");
  }
  ::fchmod(file.get(), 0600); // the umask may have narrowed 0600 further; fchmod ignores it
}

// The database and its companions hold audit history and, later, identity links: owner-only. Also
// narrows a file that an older setup or a restore left wider.
void restrict_to_owner(const fs::path& path) {
  if (::chmod(path.c_str(), 0600) != 0 && errno != ENOENT) {
    const int chmod_error = errno;
    throw StoreError("could not set mode 0600 on " + quoted(path) + ": " + errno_text(chmod_error) +
                     "; chown it to the user Gatehouse runs as");
  }
}

void restrict_database_files_to_owner(const fs::path& database) {
  restrict_to_owner(database);
  restrict_to_owner(database.string() + "-wal");
  restrict_to_owner(database.string() + "-shm");
}

sqlite3* open_connection(const fs::path& path, int flags, const char* role) {
  sqlite3* db = nullptr;
  const int result =
      sqlite3_open_v2(path.c_str(), &db, flags | SQLITE_OPEN_FULLMUTEX | SQLITE_OPEN_EXRESCODE,
                      nullptr);
  if (result != SQLITE_OK) {
    const std::string reason = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(result);
    sqlite3_close_v2(db); // SQLite hands out a handle even on failure; it must still be closed
    throw_sqlite_error("open database " + quoted(path) + " (" + role + " connection)", reason,
                       result);
  }
  return db;
}

// Settings that live on the connection, not in the file, so they change nothing on disk.
void configure_connection(sqlite3* db, const fs::path& path) {
  sqlite3_busy_timeout(db, kBusyTimeoutMs);
  const std::string purpose = "configure the connection to " + quoted(path);
  exec(db, "PRAGMA foreign_keys = ON", purpose.c_str());
  // NORMAL is durable across application crashes in WAL mode; only a power loss can drop the last
  // commits, never corrupt the file.
  exec(db, "PRAGMA synchronous = NORMAL", purpose.c_str());
}

void enable_wal(sqlite3* db, const fs::path& path) {
  Statement set_mode(db, "PRAGMA journal_mode = WAL", "switch " + quoted(path) + " to WAL mode");
  std::string mode = set_mode.step() ? set_mode.column_text(0) : std::string();
  std::transform(mode.begin(), mode.end(), mode.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  // SQLite answers with the mode it ended up in rather than failing, e.g. on filesystems without
  // shared-memory support.
  if (mode != "wal") {
    throw StoreError("database " + quoted(path) + " could not be switched to WAL mode (it reports '" +
                     mode +
                     "'); put data_dir on a local filesystem (not a network share) and restart");
  }
}

int read_schema_version(sqlite3* db, const fs::path& path) {
  const std::string purpose = "read the schema version of " + quoted(path);
  Statement has_table(
      db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'",
      purpose);
  if (!has_table.step()) return 0;
  Statement newest(db, "SELECT coalesce(max(version), 0) FROM schema_migrations", purpose);
  newest.step();
  const std::int64_t version = newest.column_int64(0);
  if (version < 0 || version > INT_MAX) {
    throw StoreError("database " + quoted(path) + " records an impossible schema version " +
                     std::to_string(version) + "; restore a backup");
  }
  return static_cast<int>(version);
}

// A broken list is a bug in this binary; catching it at open keeps it from reaching a database.
void check_migration_list(std::span<const Migration> migrations) {
  if (migrations.empty()) throw StoreError("internal error: the schema migration list is empty");
  for (std::size_t i = 0; i < migrations.size(); ++i) {
    if (migrations[i].version != static_cast<int>(i) + 1 || migrations[i].sql == nullptr) {
      throw StoreError("internal error: schema migration #" + std::to_string(i + 1) +
                       " has version " + std::to_string(migrations[i].version) +
                       " (versions must run 1, 2, 3, … without gaps, each with SQL)");
    }
  }
}

// Ends whatever transaction is open without throwing: used on the way out of a failure, when the
// original error is the one worth reporting. Some failures (disk full, I/O) have already rolled
// back, hence the autocommit check.
void rollback_quietly(sqlite3* db) {
  if (sqlite3_get_autocommit(db) == 0) sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
}

constexpr const char* kCreateMigrationsTable = R"sql(
  CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    description TEXT,
    applied_at_unix_ms INTEGER
  )
)sql";

// Each migration gets its own IMMEDIATE transaction, and re-reads the version inside it, so two
// Gatehouse processes starting together cannot both apply the same step.
void apply_pending_migrations(sqlite3* db, const fs::path& path,
                              std::span<const Migration> migrations) {
  for (const Migration& migration : migrations) {
    const std::string what = "schema migration " + std::to_string(migration.version) + " (\"" +
                             (migration.description ? migration.description : "") + "\")";
    const std::string purpose = "apply " + what + " to " + quoted(path);
    exec(db, "BEGIN IMMEDIATE", purpose.c_str());
    int version_before = 0;
    try {
      version_before = read_schema_version(db, path);
      if (version_before >= migration.version) {
        rollback_quietly(db);
        continue;
      }
      exec(db, kCreateMigrationsTable, purpose.c_str());
      exec(db, migration.sql, purpose.c_str());
      Statement record(db,
                       "INSERT INTO schema_migrations (version, description, applied_at_unix_ms) "
                       "VALUES (?1, ?2, ?3)",
                       "record " + what + " in " + quoted(path));
      record.bind_int64(1, migration.version)
          .bind_text(2, migration.description ? migration.description : "")
          .bind_int64(3, now_unix_ms());
      record.run();
      exec(db, "COMMIT", purpose.c_str());
    } catch (const StoreError& error) {
      rollback_quietly(db);
      throw StoreError(std::string(error.what()) + "; the database was left at schema version " +
                       std::to_string(version_before) +
                       " (nothing of this migration was kept); fix the cause and restart");
    }
  }
}

} // namespace

void exec(sqlite3* db, const char* sql, const char* purpose) {
  char* error_text = nullptr;
  const int result = sqlite3_exec(db, sql, nullptr, nullptr, &error_text);
  if (result != SQLITE_OK) {
    const std::string reason = error_text != nullptr ? error_text : sqlite3_errstr(result);
    sqlite3_free(error_text);
    throw_sqlite_error(purpose, reason, result);
  }
}

std::unique_ptr<Store> Store::open(const fs::path& data_dir) {
  return open(data_dir, gatehouse_migrations());
}

std::unique_ptr<Store> Store::open(const fs::path& data_dir, std::span<const Migration> migrations) {
  check_migration_list(migrations);
  prepare_data_dir(data_dir);

  // From here on ~Store closes whatever connections were opened if a step throws.
  std::unique_ptr<Store> store(new Store());
  store->path_ = data_dir / kDatabaseFileName;
  const fs::path& path = store->path_;
  create_database_file_if_missing(path);

  store->writer_ = open_connection(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, "writer");
  configure_connection(store->writer_, path);

  // Checked before anything that could write (even the switch to WAL), so a database from a newer
  // Gatehouse is left exactly as it was.
  const int found_version = read_schema_version(store->writer_, path);
  const int known_version = migrations.back().version;
  if (found_version > known_version) {
    throw StoreError("database " + quoted(path) + " has schema version " +
                     std::to_string(found_version) + " but this Gatehouse knows up to " +
                     std::to_string(known_version) + "; upgrade Gatehouse or restore a backup");
  }

  enable_wal(store->writer_, path);
  apply_pending_migrations(store->writer_, path, migrations);
  store->schema_version_ = read_schema_version(store->writer_, path);

  // Read-only, so a stray write in read() fails loudly instead of bypassing the single writer.
  store->reader_ = open_connection(path, SQLITE_OPEN_READONLY, "reader");
  configure_connection(store->reader_, path);

  restrict_database_files_to_owner(path);
  return store;
}

Store::~Store() {
  // Reader first: the last connection to close checkpoints the WAL back into the database file.
  sqlite3_close_v2(reader_);
  sqlite3_close_v2(writer_);
}

int Store::schema_version() const { return schema_version_; }

std::int64_t now_unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string iso_time(std::int64_t unix_ms) {
  const std::time_t seconds = unix_ms / 1000;
  std::tm parts{};
  ::gmtime_r(&seconds, &parts);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &parts);
  char millis[8];
  std::snprintf(millis, sizeof millis, ".%03dZ", static_cast<int>(unix_ms % 1000));
  return std::string(text) + millis;
}

int Store::latest_schema_version() { return gatehouse_migrations().back().version; }

void Store::write(const std::function<void(sqlite3*)>& work) {
  if (writing_thread_.load() == std::this_thread::get_id()) {
    throw StoreError("could not start a write: this thread is already inside Store::write (do the "
                     "work in the outer write instead)");
  }
  std::lock_guard lock(write_mutex_);
  writing_thread_.store(std::this_thread::get_id());
  struct ForgetWritingThread {
    std::atomic<std::thread::id>& writing_thread;
    ~ForgetWritingThread() { writing_thread.store(std::thread::id()); }
  } forget_on_exit{writing_thread_};

  // IMMEDIATE takes the write lock up front, so another process's writer makes us wait (busy
  // timeout) here rather than fail halfway through `work`.
  exec(writer_, "BEGIN IMMEDIATE", "start a write transaction");
  try {
    work(writer_);
    exec(writer_, "COMMIT", "commit a write transaction");
  } catch (...) {
    rollback_quietly(writer_);
    throw;
  }
}

void Store::read(const std::function<void(sqlite3*)>& work) const {
  std::lock_guard lock(read_mutex_);
  exec(reader_, "BEGIN", "start a read transaction");
  try {
    work(reader_);
  } catch (...) {
    rollback_quietly(reader_);
    throw;
  }
  exec(reader_, "COMMIT", "end a read transaction");
}

std::size_t Store::forget_audit_before(std::int64_t before_unix_ms, std::size_t max_rows) {
  std::size_t removed = 0;
  write([&](sqlite3* db) {
    Statement forget(db,
                     "DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE at_unix_ms < ? "
                     "ORDER BY at_unix_ms LIMIT ?)",
                     "forget old audit entries");
    forget.bind_int64(1, before_unix_ms).bind_int64(2, static_cast<std::int64_t>(max_rows));
    forget.run();
    removed = static_cast<std::size_t>(sqlite3_changes(db));
  });
  return removed;
}

void Store::append_audit(const AuditEntry& entry) {
  write([&](sqlite3* db) {
    Statement insert(db,
                     "INSERT INTO audit_log (at_unix_ms, event, subject, client_address, detail) "
                     "VALUES (?1, ?2, ?3, ?4, ?5)",
                     "append an audit entry");
    insert.bind_int64(1, entry.at_unix_ms)
        .bind_text(2, entry.event)
        .bind_text(3, entry.subject)
        .bind_text(4, entry.client_address)
        .bind_text(5, entry.detail.empty() ? std::string_view("{}") : std::string_view(entry.detail));
    insert.run();
  });
}

std::vector<AuditEntry> Store::audit(std::optional<std::int64_t> since_unix_ms,
                                     std::optional<std::string> subject, std::size_t limit,
                                     std::optional<std::string> event) const {
  std::vector<AuditEntry> entries;
  if (limit == 0) return entries;

  // Only the filters in use appear in the SQL, so SQLite can pick the matching index.
  std::string sql =
      "SELECT id, at_unix_ms, event, subject, client_address, detail FROM audit_log WHERE 1";
  if (since_unix_ms) sql += " AND at_unix_ms >= ?1";
  if (subject) sql += " AND subject = ?2";
  if (event) sql += " AND event = ?4";
  // Newest first so LIMIT keeps the newest; reversed below into the promised oldest-first order.
  sql += " ORDER BY at_unix_ms DESC, id DESC LIMIT ?3";

  read([&](sqlite3* db) {
    Statement select(db, sql, "read the audit log");
    if (since_unix_ms) select.bind_int64(1, *since_unix_ms);
    if (subject) select.bind_text(2, *subject);
    if (event) select.bind_text(4, *event);
    const auto max_rows = static_cast<std::int64_t>(
        std::min<std::size_t>(limit, static_cast<std::size_t>(INT64_MAX)));
    select.bind_int64(3, max_rows);
    while (select.step()) {
      AuditEntry entry;
      entry.id = select.column_int64(0);
      entry.at_unix_ms = select.column_int64(1);
      entry.event = select.column_text(2);
      entry.subject = select.column_text(3);
      entry.client_address = select.column_text(4);
      entry.detail = select.column_text(5);
      entries.push_back(std::move(entry));
    }
  });
  std::reverse(entries.begin(), entries.end());
  return entries;
}

void Store::set_gateway_fact(std::string_view key, std::string_view value) {
  write([&](sqlite3* db) {
    Statement upsert(db,
                     "INSERT INTO kv (key, value) VALUES (?1, ?2) "
                     "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                     "save a gateway fact");
    upsert.bind_text(1, key).bind_text(2, value);
    upsert.run();
  });
}

std::optional<std::string> Store::gateway_fact(std::string_view key) const {
  std::optional<std::string> value;
  read([&](sqlite3* db) {
    Statement select(db, "SELECT value FROM kv WHERE key = ?1", "read a gateway fact");
    select.bind_text(1, key);
    if (select.step()) value = select.column_text(0);
  });
  return value;
}

} // namespace gatehouse::store
