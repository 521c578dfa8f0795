#pragma once

// The database layout and how older files reach it. Versions are PRAGMA user_version:
//   1  base tables (pending_sessions, historical_sessions, pending_deletions, book_cache, settings)
//   2  batch_key, the event_id ledger, indexes for the sync queries
//   3  in_doubt (exactly-once delivery), isbn on sessions and book_cache
// The Lua plugin's own file (same name, versioned by a `schema_version` table, user_version 0)
// is taken over by import_legacy().

#include "storage/sqlite.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace booklore::storage {

/// The newest schema this build knows; a file with a higher user_version is refused.
inline constexpr int latest_schema_version = 3;

/// What open() took over from a KOReader plugin database.
struct legacy_import_summary {
    /// Tables renamed to legacy_<name> (kept, never dropped).
    std::vector<std::string> renamed_tables;
    std::int64_t sessions_imported = 0;
    /// Rows left in legacy_pending_sessions: no usable hash or id, or unreadable times.
    std::int64_t sessions_skipped = 0;
    std::int64_t books_imported = 0;
    /// The plugin's queued deletions are not imported (they meant "unshelve", and have no path).
    std::int64_t deletions_left = 0;
};

/// Runs the steps from version `from` to `to` in the caller's transaction, ending with
/// PRAGMA user_version = to.
boost::system::error_code migrate(sqlite_connection& conn, int from, int to);

/// Names of the tables in the file (sqlite_* excluded).
boost::system::result<std::vector<std::string>> user_tables(sqlite_connection& conn);

/// In the caller's transaction: renames every existing table to legacy_<name>, creates the
/// current schema and imports the plugin's pending sessions and book cache.
boost::system::result<legacy_import_summary> import_legacy(sqlite_connection& conn,
                                                           const std::string& now);

}  // namespace booklore::storage
