// Tests for store/: opening (data dir, file modes, WAL), migrations (reopen, next version, newer
// database refused, failed migration rolled back), the single-writer / separate-reader discipline,
// the audit log and gateway facts, and the Statement wrapper.
#include "store/store.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <future>
#include <iterator>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace fs = std::filesystem;
using gatehouse::store::AuditEntry;
using gatehouse::store::gatehouse_migrations;
using gatehouse::store::Migration;
using gatehouse::store::Statement;
using gatehouse::store::Store;
using gatehouse::store::StoreError;

// A fresh directory under the system temp dir, removed (with everything in it) afterwards.
class TempDir {
public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "gatehouse-store-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    // A test may have left a directory read-only on purpose; make it removable again.
    std::error_code error;
    for (const auto& entry : fs::recursive_directory_iterator(path_, error)) {
      if (entry.is_directory(error)) ::chmod(entry.path().c_str(), 0700);
    }
    fs::remove_all(path_, error);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }

private:
  fs::path path_;
};

// Sets the process umask for one test and puts the old one back.
class ScopedUmask {
public:
  explicit ScopedUmask(mode_t mask) : previous_(::umask(mask)) {}
  ~ScopedUmask() { ::umask(previous_); }

private:
  mode_t previous_;
};

mode_t permission_bits(const fs::path& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) return static_cast<mode_t>(-1);
  return info.st_mode & 07777;
}

std::string file_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string pragma_text(const Store& store, const char* pragma) {
  std::string value;
  store.read([&](sqlite3* db) {
    Statement query(db, std::string("PRAGMA ") + pragma, "read a pragma");
    if (query.step()) value = query.column_text(0);
  });
  return value;
}

std::int64_t count_rows(const Store& store, const std::string& table) {
  std::int64_t count = -1;
  store.read([&](sqlite3* db) {
    Statement query(db, "SELECT count(*) FROM " + table, "count rows");
    if (query.step()) count = query.column_int64(0);
  });
  return count;
}

bool table_exists(const Store& store, const std::string& table) {
  bool exists = false;
  store.read([&](sqlite3* db) {
    Statement query(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
                    "look up a table");
    query.bind_text(1, table);
    exists = query.step();
  });
  return exists;
}

AuditEntry audit_entry(std::int64_t at_unix_ms, std::string event, std::string subject = "") {
  AuditEntry entry;
  entry.at_unix_ms = at_unix_ms;
  entry.event = std::move(event);
  entry.subject = std::move(subject);
  entry.client_address = "192.0.2.10";
  entry.detail = R"({"route":"/auth/authorize"})";
  return entry;
}

// The built-in migrations plus one more, the way a future schema change would look.
// The shipped schema is version `kLatest`; these tests add a version after it.
const int kLatest = static_cast<int>(gatehouse_migrations().size());
const int kNext = kLatest + 1;

std::vector<Migration> migrations_with_next_version(const char* sql) {
  std::vector<Migration> migrations(gatehouse_migrations().begin(), gatehouse_migrations().end());
  migrations.push_back(Migration{kNext, "trusted devices", sql});
  return migrations;
}

constexpr const char* kTrustedDevicesMigration = R"sql(
  CREATE TABLE trusted_device (
    id INTEGER PRIMARY KEY,
    network TEXT NOT NULL,
    service_user TEXT NOT NULL
  );
)sql";

std::string open_error(const fs::path& data_dir) {
  try {
    Store::open(data_dir);
  } catch (const StoreError& error) {
    return error.what();
  }
  return "(no error)";
}

// ---------------------------------------------------------------------------------------------------

TEST(StoreOpen, FreshOpenCreatesOwnerOnlyWalDatabase) {
  TempDir temp;
  // Umask 0 would leave everything world-writable if the store relied on it.
  ScopedUmask permissive_umask(0);
  const fs::path data_dir = temp.path() / "var" / "gatehouse";

  auto store = Store::open(data_dir);

  EXPECT_EQ(store->database_path(), data_dir / "gatehouse.db");
  EXPECT_TRUE(fs::is_regular_file(data_dir / "gatehouse.db"));
  EXPECT_EQ(permission_bits(data_dir), 0700u);
  EXPECT_EQ(permission_bits(data_dir / "gatehouse.db"), 0600u);
  EXPECT_EQ(permission_bits(data_dir / "gatehouse.db-wal"), 0600u);
  EXPECT_EQ(permission_bits(data_dir / "gatehouse.db-shm"), 0600u);
  EXPECT_EQ(pragma_text(*store, "journal_mode"), "wal");
  EXPECT_EQ(pragma_text(*store, "foreign_keys"), "1");
  EXPECT_EQ(pragma_text(*store, "synchronous"), "1"); // NORMAL
  EXPECT_EQ(pragma_text(*store, "busy_timeout"), "5000");
  EXPECT_EQ(store->schema_version(), Store::latest_schema_version());
  EXPECT_EQ(Store::latest_schema_version(), kLatest);
  EXPECT_TRUE(table_exists(*store, "audit_log"));
  EXPECT_TRUE(table_exists(*store, "kv"));
  EXPECT_EQ(count_rows(*store, "schema_migrations"), kLatest);
}

TEST(StoreOpen, ReopenKeepsDataAndDoesNotRerunMigrations) {
  TempDir temp;
  std::int64_t first_applied_at = 0;
  {
    auto store = Store::open(temp.path());
    store->append_audit(audit_entry(1000, "login.success", "alice"));
    store->read([&](sqlite3* db) {
      Statement query(db, "SELECT applied_at_unix_ms FROM schema_migrations WHERE version = 1",
                      "read migration time");
      ASSERT_TRUE(query.step());
      first_applied_at = query.column_int64(0);
    });
  }
  auto reopened = Store::open(temp.path());
  EXPECT_EQ(reopened->schema_version(), kLatest);
  EXPECT_EQ(count_rows(*reopened, "schema_migrations"), kLatest);
  reopened->read([&](sqlite3* db) {
    Statement query(db, "SELECT applied_at_unix_ms FROM schema_migrations WHERE version = 1",
                    "read migration time");
    ASSERT_TRUE(query.step());
    EXPECT_EQ(query.column_int64(0), first_applied_at);
  });
  const auto entries = reopened->audit(std::nullopt, std::nullopt);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].subject, "alice");
}

TEST(StoreOpen, ReopenNarrowsAWiderDatabaseFileTo0600) {
  TempDir temp;
  Store::open(temp.path()).reset();
  ::chmod((temp.path() / "gatehouse.db").c_str(), 0644);

  auto store = Store::open(temp.path());

  EXPECT_EQ(permission_bits(temp.path() / "gatehouse.db"), 0600u);
}

TEST(StoreOpen, TwoStoresCanShareOneDatabase) {
  TempDir temp;
  auto first = Store::open(temp.path());
  auto second = Store::open(temp.path());
  first->set_gateway_fact("ha_url", "http://ha.local:8123");
  EXPECT_EQ(second->gateway_fact("ha_url"), "http://ha.local:8123");
}

// ---------------------------------------------------------------------------------------------------

TEST(StoreAudit, OldEntriesAreForgottenOldestFirstInBatches) {
  TempDir temp;
  auto store = Store::open(temp.path());
  for (const std::int64_t at : {500, 100, 300, 900, 2000}) store->append_audit(audit_entry(at, "e" + std::to_string(at)));
  EXPECT_EQ(store->forget_audit_before(1000, 2), 2u) << "a batch";
  std::vector<std::string> left;
  for (const auto& entry : store->audit(std::nullopt, std::nullopt)) left.push_back(entry.event);
  EXPECT_EQ(left, (std::vector<std::string>{"e500", "e900", "e2000"})) << "the oldest went first";
  EXPECT_EQ(store->forget_audit_before(1000, 100), 2u);
  EXPECT_EQ(store->forget_audit_before(1000, 100), 0u);
  EXPECT_EQ(store->audit(std::nullopt, std::nullopt).size(), 1u);
}

TEST(StoreMigrations, NextVersionIsOneNewEntry) {
  TempDir temp;
  Store::open(temp.path())->append_audit(audit_entry(1000, "login.success", "alice"));

  const auto migrations = migrations_with_next_version(kTrustedDevicesMigration);
  auto store = Store::open(temp.path(), migrations);

  EXPECT_EQ(store->schema_version(), kNext);
  EXPECT_TRUE(table_exists(*store, "trusted_device"));
  EXPECT_EQ(count_rows(*store, "schema_migrations"), kNext);
  EXPECT_EQ(store->audit(std::nullopt, std::nullopt).size(), 1u); // old data carried over
}

// A cut-off from before migration 18 is held by whoever asked for it, so SCIM cannot lift the console's
// after the upgrade; a cut-off whose lift was on its way is held by nobody and the lift goes on.
TEST(StoreMigrations, CutOffsFromBeforeHoldsAreHeldByWhoAskedForThem) {
  TempDir temp;
  const std::vector<Migration> before(gatehouse_migrations().begin(), gatehouse_migrations().begin() + 17);
  Store::open(temp.path(), before)->write([](sqlite3* db) {
    Statement insert(db,
                     "INSERT INTO cut_offs (ha_user_id, username, source, reason, requested_at_ms, lift_requested_at_ms) "
                     "VALUES ('ha-bob', 'bob', 'console', 'left', 5, NULL), ('ha-eve', 'eve', 'scim', '', 6, 7)",
                     "add cut-offs");
    insert.run();
  });
  auto store = Store::open(temp.path());
  std::vector<std::string> holds;
  store->read([&](sqlite3* db) {
    Statement select(db, "SELECT ha_user_id || ':' || source || ':' || reason FROM cut_off_holds ORDER BY 1", "read holds");
    while (select.step()) holds.push_back(select.column_text(0));
  });
  EXPECT_EQ(holds, (std::vector<std::string>{"ha-bob:console:left"}));
}

TEST(StoreMigrations, NewerDatabaseIsRefusedAndLeftUntouched) {
  TempDir temp;
  const auto newer_migrations = migrations_with_next_version(kTrustedDevicesMigration);
  Store::open(temp.path(), newer_migrations)->append_audit(audit_entry(1000, "login.success"));
  const fs::path database = temp.path() / "gatehouse.db";
  ::chmod(database.c_str(), 0640); // would be narrowed to 0600 if the refused open touched it
  const std::string bytes_before = file_bytes(database);

  const std::string message = open_error(temp.path());

  EXPECT_NE(message.find(database.string()), std::string::npos) << message;
  EXPECT_NE(message.find("has schema version " + std::to_string(kNext) + " but this Gatehouse knows up to " +
                         std::to_string(kLatest)), std::string::npos)
      << message;
  EXPECT_NE(message.find("upgrade Gatehouse or restore a backup"), std::string::npos) << message;
  EXPECT_EQ(file_bytes(database), bytes_before);
  EXPECT_EQ(permission_bits(database), 0640u);
  // The newer Gatehouse still opens it as before.
  EXPECT_EQ(Store::open(temp.path(), newer_migrations)->schema_version(), kNext);
}

TEST(StoreMigrations, FailingMigrationRollsBackToPreviousVersion) {
  TempDir temp;
  const auto broken_migrations = migrations_with_next_version(R"sql(
    CREATE TABLE half_done (x INTEGER);
    INSERT INTO no_such_table VALUES (1);
  )sql");

  std::string message;
  try {
    Store::open(temp.path(), broken_migrations);
  } catch (const StoreError& error) {
    message = error.what();
  }

  EXPECT_NE(message.find("schema migration " + std::to_string(kNext)), std::string::npos) << message;
  EXPECT_NE(message.find("no such table: no_such_table"), std::string::npos) << message;
  EXPECT_NE(message.find("left at schema version " + std::to_string(kLatest)), std::string::npos) << message;
  auto store = Store::open(temp.path());
  EXPECT_EQ(store->schema_version(), kLatest);
  EXPECT_FALSE(table_exists(*store, "half_done"));
  EXPECT_EQ(count_rows(*store, "schema_migrations"), kLatest);
}

TEST(StoreMigrations, ListWithAGapIsRefusedBeforeTouchingAnything) {
  TempDir temp;
  const std::vector<Migration> gap{{1, "one", "CREATE TABLE a (x)"}, {3, "three", "CREATE TABLE c (x)"}};
  EXPECT_THROW(Store::open(temp.path() / "data", gap), StoreError);
  EXPECT_FALSE(fs::exists(temp.path() / "data"));
}

// ---------------------------------------------------------------------------------------------------

TEST(StoreWrite, ThrowInsideWriteRollsBackAndRethrows) {
  TempDir temp;
  auto store = Store::open(temp.path());

  EXPECT_THROW(store->write([](sqlite3* db) {
    Statement insert(db, "INSERT INTO kv (key, value) VALUES ('half', 'written')", "insert");
    insert.run();
    throw std::logic_error("caller gave up halfway");
  }),
               std::logic_error);

  EXPECT_EQ(store->gateway_fact("half"), std::nullopt);
  store->set_gateway_fact("after", "still works"); // the writer is usable again
  EXPECT_EQ(store->gateway_fact("after"), "still works");
}

TEST(StoreWrite, NestedWriteIsRefusedInsteadOfDeadlocking) {
  TempDir temp;
  auto store = Store::open(temp.path());
  EXPECT_THROW(store->write([&](sqlite3*) { store->set_gateway_fact("k", "v"); }), StoreError);
  EXPECT_EQ(store->gateway_fact("k"), std::nullopt);
}

TEST(StoreWrite, ReadConnectionRefusesWrites) {
  TempDir temp;
  auto store = Store::open(temp.path());
  EXPECT_THROW(store->read([](sqlite3* db) {
    gatehouse::store::exec(db, "INSERT INTO kv (key, value) VALUES ('k', 'v')", "sneak a write in");
  }),
               StoreError);
}

TEST(StoreWrite, ErrorsNameThePurposeButNeverTheBoundValues) {
  TempDir temp;
  auto store = Store::open(temp.path());
  store->set_gateway_fact("signing_key_id", "first");

  std::string message;
  try {
    store->write([](sqlite3* db) {
      Statement insert(db, "INSERT INTO kv (key, value) VALUES (?1, ?2)", "save the signing key id");
      insert.bind_text(1, "signing_key_id").bind_text(2, "hunter2-very-secret");
      insert.run();
    });
  } catch (const StoreError& error) {
    message = error.what();
  }

  EXPECT_NE(message.find("could not save the signing key id"), std::string::npos) << message;
  EXPECT_NE(message.find("UNIQUE constraint failed"), std::string::npos) << message;
  EXPECT_EQ(message.find("hunter2"), std::string::npos) << message;
}

// ---------------------------------------------------------------------------------------------------

TEST(StoreConcurrency, WritersOnManyThreadsAllLand) {
  TempDir temp;
  auto store = Store::open(temp.path());
  constexpr int kThreads = 8;
  constexpr int kWritesPerThread = 50;
  std::atomic<int> failures{0};
  std::atomic<bool> writers_done{false};

  // A reader runs alongside the whole time; it must neither fail nor block the writers.
  std::thread reader([&] {
    while (!writers_done.load()) {
      try {
        store->audit(std::nullopt, std::nullopt, 10);
      } catch (const std::exception&) {
        ++failures;
      }
    }
  });
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < kWritesPerThread; ++i) {
        try {
          store->append_audit(audit_entry(t * 1000 + i, "login.success", "user" + std::to_string(t)));
        } catch (const std::exception&) {
          ++failures;
        }
      }
    });
  }
  for (auto& writer : writers) writer.join();
  writers_done = true;
  reader.join();

  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(count_rows(*store, "audit_log"), kThreads * kWritesPerThread);
  EXPECT_EQ(store->audit(std::nullopt, "user3").size(), static_cast<std::size_t>(kWritesPerThread));
}

TEST(StoreConcurrency, TwoStoresOnOneDatabaseWaitForEachOther) {
  // Stands in for a second process (e.g. `gatehouse audit` beside the server): separate writer
  // connections must queue on SQLite's lock via the busy timeout, not fail with SQLITE_BUSY.
  TempDir temp;
  auto first = Store::open(temp.path());
  auto second = Store::open(temp.path());
  std::atomic<int> failures{0};
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t) {
    Store& store = (t % 2 == 0) ? *first : *second;
    writers.emplace_back([&store, &failures, t] {
      for (int i = 0; i < 25; ++i) {
        try {
          store.append_audit(audit_entry(i, "scim.user.updated", "user" + std::to_string(t)));
        } catch (const std::exception&) {
          ++failures;
        }
      }
    });
  }
  for (auto& writer : writers) writer.join();

  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(count_rows(*first, "audit_log"), 100);
}

TEST(StoreConcurrency, ReaderSeesCommittedDataWhileAWriteIsOpen) {
  TempDir temp;
  auto store = Store::open(temp.path());
  store->set_gateway_fact("state", "committed");

  std::promise<void> write_in_progress;
  std::promise<void> may_commit;
  auto may_commit_signal = may_commit.get_future();
  std::thread writer([&] {
    store->write([&](sqlite3* db) {
      Statement update(db, "UPDATE kv SET value = 'uncommitted' WHERE key = 'state'", "update");
      update.run();
      Statement insert(db, "INSERT INTO kv (key, value) VALUES ('new', 'uncommitted')", "insert");
      insert.run();
      write_in_progress.set_value();
      may_commit_signal.wait();
    });
  });
  write_in_progress.get_future().wait();

  // The writer holds its transaction open right now: the reader must not block and must see only
  // what was committed before it.
  const auto state_during = store->gateway_fact("state");
  const auto new_during = store->gateway_fact("new");
  may_commit.set_value();
  writer.join();

  EXPECT_EQ(state_during, "committed");
  EXPECT_EQ(new_during, std::nullopt);
  EXPECT_EQ(store->gateway_fact("state"), "uncommitted");
  EXPECT_EQ(store->gateway_fact("new"), "uncommitted");
}

// ---------------------------------------------------------------------------------------------------

TEST(StoreAudit, ReturnsEntriesOldestFirstWithAllFields) {
  TempDir temp;
  auto store = Store::open(temp.path());
  store->append_audit(audit_entry(2000, "login.refused", "bob"));
  store->append_audit(audit_entry(1000, "login.success", "alice")); // recorded late, happened first
  AuditEntry bare;
  bare.at_unix_ms = 3000;
  bare.event = "breakglass.opened";
  store->append_audit(bare);

  const auto entries = store->audit(std::nullopt, std::nullopt);

  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0].event, "login.success");
  EXPECT_EQ(entries[0].at_unix_ms, 1000);
  EXPECT_EQ(entries[0].subject, "alice");
  EXPECT_EQ(entries[0].client_address, "192.0.2.10");
  EXPECT_EQ(entries[0].detail, R"({"route":"/auth/authorize"})");
  EXPECT_GT(entries[0].id, 0);
  EXPECT_EQ(entries[1].event, "login.refused");
  EXPECT_EQ(entries[2].event, "breakglass.opened");
  EXPECT_EQ(entries[2].subject, "");
  EXPECT_EQ(entries[2].detail, "{}"); // empty detail becomes an empty JSON object
}

TEST(StoreAudit, FiltersBySinceInclusiveAndBySubject) {
  TempDir temp;
  auto store = Store::open(temp.path());
  store->append_audit(audit_entry(1000, "login.success", "alice"));
  store->append_audit(audit_entry(2000, "login.success", "bob"));
  store->append_audit(audit_entry(3000, "login.refused", "alice"));
  store->append_audit(audit_entry(4000, "scim.user.deactivated", "alice"));

  const auto since = store->audit(2000, std::nullopt);
  ASSERT_EQ(since.size(), 3u);
  EXPECT_EQ(since[0].at_unix_ms, 2000);

  const auto alice = store->audit(std::nullopt, "alice");
  ASSERT_EQ(alice.size(), 3u);
  for (const auto& entry : alice) EXPECT_EQ(entry.subject, "alice");

  const auto alice_since = store->audit(2500, "alice");
  ASSERT_EQ(alice_since.size(), 2u);
  EXPECT_EQ(alice_since[0].event, "login.refused");
  EXPECT_EQ(alice_since[1].event, "scim.user.deactivated");

  EXPECT_TRUE(store->audit(std::nullopt, "nobody").empty());
  EXPECT_TRUE(store->audit(5000, std::nullopt).empty());

  const auto successes = store->audit(std::nullopt, std::nullopt, 1000, "login.success");
  ASSERT_EQ(successes.size(), 2u);
  EXPECT_EQ(successes[0].subject, "alice");
  EXPECT_EQ(successes[1].subject, "bob");
  const auto alice_refused = store->audit(1000, "alice", 1000, "login.refused");
  ASSERT_EQ(alice_refused.size(), 1u);
  EXPECT_EQ(alice_refused[0].at_unix_ms, 3000);
  EXPECT_TRUE(store->audit(std::nullopt, "bob", 1000, "login.refused").empty());
}

TEST(StoreAudit, LimitKeepsTheNewestEntries) {
  TempDir temp;
  auto store = Store::open(temp.path());
  for (int i = 1; i <= 10; ++i) store->append_audit(audit_entry(i * 100, "event" + std::to_string(i)));
  // Same timestamp as the newest: the later insert counts as newer.
  store->append_audit(audit_entry(1000, "event11"));

  const auto newest = store->audit(std::nullopt, std::nullopt, 3);

  ASSERT_EQ(newest.size(), 3u);
  EXPECT_EQ(newest[0].event, "event9");
  EXPECT_EQ(newest[1].event, "event10");
  EXPECT_EQ(newest[2].event, "event11");
  EXPECT_TRUE(store->audit(std::nullopt, std::nullopt, 0).empty());
}

TEST(StoreGatewayFacts, SetReplacesAndMissingIsEmpty) {
  TempDir temp;
  auto store = Store::open(temp.path());
  EXPECT_EQ(store->gateway_fact("ha_instance"), std::nullopt);
  store->set_gateway_fact("ha_instance", "first");
  store->set_gateway_fact("ha_instance", "second");
  EXPECT_EQ(store->gateway_fact("ha_instance"), "second");
  EXPECT_EQ(count_rows(*store, "kv"), 1);
}

// ---------------------------------------------------------------------------------------------------

TEST(StoreStatement, BindsResetsAndReadsColumns) {
  TempDir temp;
  auto store = Store::open(temp.path());
  store->write([](sqlite3* db) {
    Statement create(db, "CREATE TABLE sample (t TEXT, n INTEGER)", "create sample");
    create.run();
    Statement insert(db, "INSERT INTO sample (t, n) VALUES (?1, ?2)", "insert sample");
    insert.bind_text(1, "").bind_int64(2, INT64_MAX);
    insert.run();
    insert.reset(); // clears bindings too: this row is (NULL, NULL)
    insert.run();
    insert.reset();
    insert.bind_null(1).bind_int64(2, -5);
    insert.run();
  });

  store->read([](sqlite3* db) {
    Statement select(db, "SELECT t, n FROM sample ORDER BY rowid", "read sample");
    ASSERT_TRUE(select.step());
    EXPECT_FALSE(select.column_is_null(0)); // an empty string stays '' rather than becoming NULL
    EXPECT_EQ(select.column_text(0), "");
    EXPECT_EQ(select.column_int64(1), INT64_MAX);
    ASSERT_TRUE(select.step());
    EXPECT_TRUE(select.column_is_null(0));
    EXPECT_TRUE(select.column_is_null(1));
    EXPECT_EQ(select.column_text(0), "");
    Statement moved = std::move(select); // ownership moves; the statement keeps its position
    ASSERT_TRUE(moved.step());
    EXPECT_EQ(moved.column_int64(1), -5);
    EXPECT_FALSE(moved.step());
  });
}

TEST(StoreStatement, BadSqlNamesThePurpose) {
  TempDir temp;
  auto store = Store::open(temp.path());
  try {
    store->read([](sqlite3* db) { Statement broken(db, "SELEC nonsense", "list trusted devices"); });
    FAIL() << "expected StoreError";
  } catch (const StoreError& error) {
    EXPECT_NE(std::string(error.what()).find("could not list trusted devices"), std::string::npos)
        << error.what();
  }
}

// ---------------------------------------------------------------------------------------------------

TEST(StoreDataDir, FileInsteadOfDirectoryIsRefused) {
  TempDir temp;
  const fs::path not_a_dir = temp.path() / "data";
  std::ofstream(not_a_dir) << "oops";

  const std::string message = open_error(not_a_dir);

  EXPECT_NE(message.find(not_a_dir.string()), std::string::npos) << message;
  EXPECT_NE(message.find("exists but is not a directory"), std::string::npos) << message;
  EXPECT_EQ(file_bytes(not_a_dir), "oops");
}

TEST(StoreDataDir, ParentThatIsAFileIsRefused) {
  TempDir temp;
  std::ofstream(temp.path() / "file") << "oops";
  const std::string message = open_error(temp.path() / "file" / "data");
  EXPECT_NE(message.find("could not create data_dir"), std::string::npos) << message;
}

TEST(StoreDataDir, ExistingDirectoryKeepsItsMode) {
  TempDir temp;
  ::chmod(temp.path().c_str(), 0750); // the admin's choice; the store only creates with 0700
  Store::open(temp.path());
  EXPECT_EQ(permission_bits(temp.path()), 0750u);
}

TEST(StoreDataDirDeathTest, UnwritableDirectoryIsRefused) {
  TempDir temp;
  const fs::path data_dir = temp.path() / "data";
  fs::create_directory(data_dir);
  ::chmod(temp.path().c_str(), 0755);
  ::chmod(data_dir.c_str(), 0555);

  if (::geteuid() != 0) {
    const std::string message = open_error(data_dir);
    EXPECT_NE(message.find("is not writable by this user"), std::string::npos) << message;
    return;
  }
  // Root may write anywhere, so check as an unprivileged user in a forked child.
  EXPECT_EXIT(
      {
        if (::setgid(65534) != 0 || ::setuid(65534) != 0) std::_Exit(2);
        std::fputs(open_error(data_dir).c_str(), stderr);
        std::_Exit(0);
      },
      ::testing::ExitedWithCode(0), "is not writable by this user");
}

} // namespace
