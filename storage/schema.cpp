#include "storage/schema.hpp"

#include "storage/rows.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <string_view>

namespace booklore::storage {
namespace {

// Each entry takes the file from version i to i + 1. Never edit a released step: add one.
constexpr std::array<std::string_view, latest_schema_version> steps = {
    // 0 -> 1: base tables. Times are ISO-8601 UTC text; ids of uploaded sessions are kept in
    // historical_sessions, so it has no AUTOINCREMENT of its own.
    R"sql(
CREATE TABLE pending_sessions (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id         TEXT,
    book_id          INTEGER,
    book_hash        TEXT NOT NULL,
    file_path        TEXT,
    book_title       TEXT,
    book_type        TEXT NOT NULL DEFAULT 'EPUB',
    start_time       TEXT NOT NULL,
    end_time         TEXT NOT NULL,
    duration_seconds INTEGER NOT NULL CHECK (duration_seconds >= 0),
    start_progress   REAL,
    end_progress     REAL,
    progress_delta   REAL,
    start_location   TEXT,
    end_location     TEXT,
    retry_count      INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT,
    created_at       TEXT NOT NULL
);
CREATE TABLE historical_sessions (
    id               INTEGER PRIMARY KEY,
    event_id         TEXT,
    book_id          INTEGER,
    book_hash        TEXT NOT NULL,
    file_path        TEXT,
    book_title       TEXT,
    book_type        TEXT NOT NULL,
    start_time       TEXT NOT NULL,
    end_time         TEXT NOT NULL,
    duration_seconds INTEGER NOT NULL,
    start_progress   REAL,
    end_progress     REAL,
    progress_delta   REAL,
    start_location   TEXT,
    end_location     TEXT,
    retry_count      INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT,
    created_at       TEXT NOT NULL,
    uploaded_at      TEXT NOT NULL
);
CREATE TABLE pending_deletions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id    TEXT,
    file_path   TEXT NOT NULL CHECK (file_path <> ''),
    book_hash   TEXT,
    book_id     INTEGER,
    retry_count INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT,
    created_at  TEXT NOT NULL
);
CREATE TABLE book_cache (
    file_path  TEXT PRIMARY KEY CHECK (file_path <> ''),
    book_hash  TEXT NOT NULL,
    book_id    INTEGER,
    title      TEXT,
    updated_at TEXT NOT NULL
);
CREATE TABLE settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
)sql",
    // 1 -> 2: frozen batch membership, the event ledger (so an event_id stays known after its
    // row was uploaded or cleared), and indexes for the sync's lookups. The ledger is seeded
    // from the event ids version 1 already stored; the oldest row wins.
    R"sql(
ALTER TABLE pending_sessions ADD COLUMN batch_key TEXT;
ALTER TABLE historical_sessions ADD COLUMN batch_key TEXT;
CREATE TABLE event_ledger (
    kind       TEXT NOT NULL CHECK (kind IN ('session', 'deletion')),
    event_id   TEXT NOT NULL,
    queue_id   INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (kind, event_id)
) WITHOUT ROWID;
INSERT OR IGNORE INTO event_ledger (kind, event_id, queue_id, created_at)
    SELECT 'session', event_id, min(id), created_at
    FROM (SELECT id, event_id, created_at FROM historical_sessions
          UNION ALL SELECT id, event_id, created_at FROM pending_sessions)
    WHERE event_id IS NOT NULL GROUP BY event_id;
INSERT OR IGNORE INTO event_ledger (kind, event_id, queue_id, created_at)
    SELECT 'deletion', event_id, min(id), created_at FROM pending_deletions
    WHERE event_id IS NOT NULL GROUP BY event_id;
CREATE INDEX pending_sessions_by_book ON pending_sessions (book_id, id);
CREATE INDEX pending_sessions_by_hash ON pending_sessions (book_hash);
CREATE INDEX pending_sessions_by_batch ON pending_sessions (batch_key) WHERE batch_key IS NOT NULL;
CREATE INDEX pending_deletions_by_hash ON pending_deletions (book_hash);
CREATE INDEX book_cache_by_hash ON book_cache (book_hash);
CREATE INDEX book_cache_by_book_id ON book_cache (book_id) WHERE book_id IS NOT NULL;
)sql",
    // 2 -> 3: in_doubt (0, or the epoch seconds of the request) marks rows whose request may
    // have been stored although no answer came (set before the request leaves, so a kill in
    // flight leaves it set); the sync checks the
    // server's own list before sending them again. isbn (13 digits) matches books on servers
    // without a hash lookup.
    R"sql(
ALTER TABLE pending_sessions ADD COLUMN in_doubt INTEGER NOT NULL DEFAULT 0;
ALTER TABLE pending_sessions ADD COLUMN isbn TEXT;
ALTER TABLE historical_sessions ADD COLUMN isbn TEXT;
ALTER TABLE book_cache ADD COLUMN isbn TEXT;
)sql",
};

std::string quote_identifier(std::string_view name) {
    std::string out = "\"";
    for (char c : name) {
        out += c;
        if (c == '"')
            out += '"';
    }
    return out + '"';
}

/// The first column of every row, as text.
boost::system::result<std::vector<std::string>> first_column(statement& stmt) {
    return rows::collect<std::string>(stmt, [](const statement& s) { return s.column_text(0); });
}

boost::system::result<std::vector<std::string>> columns_of(sqlite_connection& conn,
                                                           const std::string& table) {
    auto stmt = conn.prepare("SELECT name FROM pragma_table_info(?1)");
    if (!stmt)
        return stmt.error();
    stmt->bind(1, table);
    return first_column(*stmt);
}

/// An expression converting a plugin time (epoch seconds, or a date string) to our ISO text;
/// NULL when it cannot be read.
std::string iso_of(const std::string& column) {
    const std::string fmt = "'%Y-%m-%dT%H:%M:%SZ'";
    return "CASE WHEN typeof(" + column + ") IN ('integer', 'real') THEN strftime(" + fmt + ", " +
           column + ", 'unixepoch') WHEN " + column + " <> '' AND " + column +
           " NOT GLOB '*[^0-9]*' THEN strftime(" + fmt + ", CAST(" + column +
           " AS INTEGER), 'unixepoch') ELSE strftime(" + fmt + ", " + column + ") END";
}

/// Picks the legacy column when the table has it, else `fallback`.
class column_picker {
public:
    explicit column_picker(std::vector<std::string> names) : names_(std::move(names)) {}
    bool has(std::string_view name) const {
        return std::find(names_.begin(), names_.end(), name) != names_.end();
    }
    std::string operator()(std::string_view name, std::string_view fallback = "NULL") const {
        return has(name) ? quote_identifier(name) : std::string(fallback);
    }

private:
    std::vector<std::string> names_;
};

boost::system::result<std::int64_t> run_counted(sqlite_connection& conn, const std::string& sql,
                                                const std::string& now) {
    auto stmt = conn.prepare(sql);
    if (!stmt)
        return stmt.error();
    stmt->bind(1, now);
    if (auto ec = stmt->run())
        return ec;
    return conn.changes();
}

boost::system::result<std::int64_t> import_sessions(sqlite_connection& conn,
                                                    const std::string& now) {
    auto names = columns_of(conn, "legacy_pending_sessions");
    if (!names)
        return names.error();
    column_picker col(std::move(*names));
    for (auto required : {"book_hash", "start_time", "end_time", "duration_seconds"})
        if (!col.has(required))
            return 0;
    // The plugin wrote "" for unknown hashes and 0/"0" for unknown progress and locations; a row
    // is worth importing when it can ever be uploaded: it has a book id or a real hash.
    std::string sql =
        "INSERT INTO pending_sessions (book_id, book_hash, book_title, book_type, start_time, "
        "end_time, duration_seconds, start_progress, end_progress, progress_delta, start_location, "
        "end_location, retry_count, created_at) "
        "SELECT book_id, book_hash, book_title, book_type, start_time, end_time, duration_seconds, "
        "start_progress, end_progress, CASE WHEN start_progress IS NOT NULL AND end_progress IS "
        "NOT NULL THEN end_progress - start_progress END, start_location, end_location, "
        "retry_count, created_at FROM (SELECT "
        "CASE WHEN typeof(" +
        col("book_id") + ") = 'integer' AND " + col("book_id") + " > 0 THEN " + col("book_id") +
        " END AS book_id, "
        "lower(coalesce(book_hash, '')) AS book_hash, "
        "CAST(" +
        col("book_title") +
        " AS TEXT) AS book_title, "
        "upper(coalesce(nullif(" +
        col("book_type") +
        ", ''), 'EPUB')) AS book_type, "
        "strftime('%Y-%m-%dT%H:%M:%SZ', start_time) AS start_time, "
        "strftime('%Y-%m-%dT%H:%M:%SZ', end_time) AS end_time, "
        "CAST(duration_seconds AS INTEGER) AS duration_seconds, "
        "CAST(" +
        col("start_progress") +
        " AS REAL) AS start_progress, "
        "CAST(" +
        col("end_progress") +
        " AS REAL) AS end_progress, "
        "CAST(" +
        col("start_location") +
        " AS TEXT) AS start_location, "
        "CAST(" +
        col("end_location") +
        " AS TEXT) AS end_location, "
        "coalesce(CAST(" +
        col("retry_count") +
        " AS INTEGER), 0) AS retry_count, "
        "coalesce(" +
        iso_of(col("created_at")) +
        ", ?1) AS created_at, "
        "rowid AS legacy_rowid FROM legacy_pending_sessions) "
        "WHERE start_time IS NOT NULL AND end_time IS NOT NULL AND duration_seconds >= 0 "
        "AND (book_id IS NOT NULL OR (length(book_hash) = 32 AND book_hash NOT GLOB "
        "'*[^0-9a-f]*')) ORDER BY created_at, legacy_rowid";
    return run_counted(conn, sql, now);
}

boost::system::result<std::int64_t> import_books(sqlite_connection& conn, const std::string& now) {
    auto names = columns_of(conn, "legacy_book_cache");
    if (!names)
        return names.error();
    column_picker col(std::move(*names));
    if (!col.has("file_path") || !col.has("file_hash"))
        return 0;
    // Rows with an empty hash and no id are what made the plugin match the wrong book.
    std::string updated = "coalesce(" + col("updated_at") + ", " + col("last_accessed") + ", " +
                          col("created_at") + ")";
    std::string sql =
        "INSERT INTO book_cache (file_path, book_hash, book_id, title, updated_at) "
        "SELECT file_path, lower(coalesce(file_hash, '')), CASE WHEN typeof(" +
        col("book_id") + ") = 'integer' AND " + col("book_id") + " > 0 THEN " + col("book_id") +
        " END, "
        "CAST(" +
        col("title") + " AS TEXT), coalesce(" + iso_of(updated) +
        ", ?1) "
        "FROM legacy_book_cache WHERE typeof(file_path) = 'text' AND file_path <> '' "
        "AND (coalesce(file_hash, '') <> '' OR " +
        col("book_id", "0") +
        " > 0) ORDER BY rowid "
        "ON CONFLICT (file_path) DO NOTHING";
    return run_counted(conn, sql, now);
}

}  // namespace

boost::system::error_code migrate(sqlite_connection& conn, int from, int to) {
    if (from < 0 || to > latest_schema_version || from > to)
        return make_sqlite_error(SQLITE_MISUSE);
    for (int v = from; v < to; ++v)
        if (auto ec = conn.exec(std::string(steps[static_cast<std::size_t>(v)])))
            return ec;
    return conn.exec("PRAGMA user_version = " + std::to_string(to));
}

boost::system::result<std::vector<std::string>> user_tables(sqlite_connection& conn) {
    auto stmt = conn.prepare(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' "
        "ESCAPE '\\' ORDER BY name");
    if (!stmt)
        return stmt.error();
    return first_column(*stmt);
}

boost::system::result<legacy_import_summary> import_legacy(sqlite_connection& conn,
                                                           const std::string& now) {
    legacy_import_summary summary;
    auto tables = user_tables(conn);
    if (!tables)
        return tables.error();
    // Renaming (not dropping) keeps everything the plugin had, and SQLite rewrites the plugin's
    // foreign keys to follow book_cache to legacy_book_cache.
    for (const auto& name : *tables) {
        if (auto ec = conn.exec("ALTER TABLE " + quote_identifier(name) + " RENAME TO " +
                                quote_identifier("legacy_" + name)))
            return ec;
        summary.renamed_tables.push_back(name);
    }
    if (auto ec = migrate(conn, 0, latest_schema_version))
        return ec;

    auto has = [&](std::string_view name) {
        return std::find(tables->begin(), tables->end(), name) != tables->end();
    };
    if (has("pending_sessions")) {
        auto imported = import_sessions(conn, now);
        if (!imported)
            return imported.error();
        auto total = conn.query_int64("SELECT count(*) FROM legacy_pending_sessions");
        if (!total)
            return total.error();
        summary.sessions_imported = *imported;
        summary.sessions_skipped = *total - *imported;
    }
    if (has("book_cache")) {
        auto imported = import_books(conn, now);
        if (!imported)
            return imported.error();
        summary.books_imported = *imported;
    }
    if (has("pending_deletions")) {
        auto left = conn.query_int64("SELECT count(*) FROM legacy_pending_deletions");
        if (!left)
            return left.error();
        summary.deletions_left = *left;
    }
    return summary;
}

}  // namespace booklore::storage
