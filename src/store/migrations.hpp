// store/migrations: the ordered list of schema changes that make up Gatehouse's database. A database
// records which of them it has (table schema_migrations); Store::open applies the missing ones in
// order. Entries are append-only: once a version has shipped its SQL never changes, and a schema
// change is one new entry at the end with the next version number.
#pragma once

#include <span>

namespace gatehouse::store {

struct Migration {
  int version;             // 1, 2, 3, … with no gaps
  const char* description; // shown in errors and kept in schema_migrations
  const char* sql;         // one or more statements, run inside the migration's own transaction
};

// Every migration this Gatehouse knows, oldest first.
std::span<const Migration> gatehouse_migrations();

} // namespace gatehouse::store
