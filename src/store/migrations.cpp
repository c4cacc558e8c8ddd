// store/migrations: Gatehouse's schema, one numbered step at a time. To change the schema, append an
// entry with the next version; never edit or reorder a shipped one (databases in the field already
// recorded it as applied).
#include "store/migrations.hpp"

#include <array>

namespace gatehouse::store {

namespace {

constexpr std::array kMigrations{
    Migration{1, "audit log and gateway facts", R"sql(
      CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at_unix_ms INTEGER NOT NULL,
        event TEXT NOT NULL,
        subject TEXT NOT NULL DEFAULT '',
        client_address TEXT NOT NULL DEFAULT '',
        detail TEXT NOT NULL DEFAULT '{}'
      );
      CREATE INDEX audit_log_by_time ON audit_log(at_unix_ms);
      -- (subject, time) serves "everything about this user" and its time-bounded variant alike.
      CREATE INDEX audit_log_by_subject ON audit_log(subject, at_unix_ms);

      -- Small facts about this gateway (e.g. which HA instance it was set up against).
      CREATE TABLE kv (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
      );
    )sql"},
};

} // namespace

std::span<const Migration> gatehouse_migrations() { return kMigrations; }

} // namespace gatehouse::store
