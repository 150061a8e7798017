// Schema migrations of the llmops store: an ordered list of SQL scripts; script i (1-based)
// brings the database to schema version i. Each script runs in its own BEGIN IMMEDIATE
// transaction together with the row that records it in `schema_version`, so a crash never leaves
// a half-migrated database and two processes opening a new home at once do not both migrate.
// Internal to store/; not part of the engine's contract.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <SQLiteCpp/SQLiteCpp.h>

#include "llmops/status.hpp"

namespace llmops::store {

const std::vector<std::string>& migrations();

// Current version of an open database (0 for a new one).
int schema_version_of(SQLite::Database& db);

// Applies pending migrations; refuses a database newer than this binary. `db_path` is for messages.
Status migrate(SQLite::Database& db, const std::filesystem::path& db_path);

}  // namespace llmops::store
