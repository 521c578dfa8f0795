// database::open and the recovery paths: connection set-up, corruption quarantine, migrations,
// taking over the plugin's file, reopening after I/O errors.

#include "config/utc_time.hpp"
#include "storage/database.hpp"

#include "storage/rows.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <ctime>
#include <fstream>
#include <stdexcept>
#include <system_error>

namespace booklore::storage {
namespace {

namespace fs = std::filesystem;
using boost::system::error_code;

bool is_corruption(const error_code& ec) {
    int p = primary_code(ec);
    return p == SQLITE_CORRUPT || p == SQLITE_NOTADB;
}

std::string describe(const error_code& ec) {
    std::string text = ec.message();
    const std::string& detail = last_error_detail();
    if (!detail.empty() && detail != text)
        text += " (" + detail + ")";
    return text;
}

[[noreturn]] void refuse(const fs::path& file, const std::string& why) {
    throw std::runtime_error("cannot open database " + file.string() + ": " + why);
}

// The per-connection settings (none of them is stored in the file, so every open sets them).
// cache_size is small because the daemon's idle RSS budget is 8 MiB and the queue is tiny;
// temp_store=MEMORY keeps temp files off a possibly smaller partition (SQLITE_FULL there).
constexpr const char* connection_pragmas =
    "PRAGMA busy_timeout = 5000;"
    "PRAGMA foreign_keys = ON;"
    "PRAGMA synchronous = FULL;"
    "PRAGMA temp_store = MEMORY;"
    "PRAGMA cache_size = -512;"
    "PRAGMA mmap_size = 0;"
    "PRAGMA journal_size_limit = 262144;"
    // Each queued event adds about 8 pages to the WAL; checkpointing every 64 pages (not
    // SQLite's 1000) keeps a small reader partition from filling with WAL history.
    "PRAGMA wal_autocheckpoint = 64;";

/// Switches to WAL (stored in the file) and checks that it took: on a filesystem without
/// shared-memory support SQLite silently keeps the old mode.
error_code enable_wal(sqlite_connection& conn, std::string& mode_out) {
    auto mode = conn.query_text("PRAGMA journal_mode = WAL");
    if (!mode)
        return mode.error();
    mode_out = mode->value_or("");
    return {};
}

/// A connection ready for use on a file that is already known to be ours and sound.
boost::system::result<sqlite_connection> connect(const fs::path& file) {
    auto conn = sqlite_connection::open(file);
    if (!conn)
        return conn.error();
    if (auto ec = conn->exec(connection_pragmas))
        return ec;
    std::string mode;
    if (auto ec = enable_wal(*conn, mode))
        return ec;
    if (mode != "wal")
        return make_sqlite_error(SQLITE_CANTOPEN);
    return conn;
}

std::string utc_stamp() {
    std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    std::tm tm{};
    gmtime_r(&now, &tm);
    char buf[32];
    // No colons: the reader's storage is often FAT, which forbids them in names.
    std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
    return buf;
}

void sync_directory(const fs::path& dir) {
    int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        ::fsync(fd);
        ::close(fd);
    }
}

/// Renames the database and its -wal/-shm/-journal to `<name>.<label>-<UTC>[...]` (never
/// deletes). The companions go first: a fresh file created at the old name must never find a
/// stray WAL and replay it.
fs::path move_aside(const fs::path& file, const std::string& label) {
    fs::path target = file;
    target += "." + label + "-" + utc_stamp();
    std::error_code ec;
    for (int n = 2; fs::exists(target, ec); ++n) {
        target = file;
        target += "." + label + "-" + utc_stamp() + "-" + std::to_string(n);
    }
    for (const char* suffix : {"-wal", "-shm", "-journal"}) {
        fs::path from = file;
        from += suffix;
        if (!fs::exists(from, ec))
            continue;
        fs::path to = target;
        to += suffix;
        fs::rename(from, to, ec);
        if (ec)
            refuse(file, "cannot move " + from.string() + " aside: " + ec.message());
    }
    fs::rename(file, target, ec);
    if (ec)
        refuse(file, "cannot move it aside to " + target.string() + ": " + ec.message());
    sync_directory(file.parent_path());
    return target;
}

enum class outcome { ready, corrupt, unimportable };

struct attempt {
    outcome result = outcome::ready;
    std::string why;
    sqlite_connection conn;
    std::optional<legacy_import_summary> legacy;
};

/// One log line per event: SQLite's multi-line check output is joined.
std::string one_line(std::string text) {
    for (auto& c : text)
        if (c == '\n' || c == '\r')
            c = ' ';
    return text;
}

attempt give_up(outcome o, std::string why, sqlite_connection conn) {
    // Leave the -wal exactly as it was for whoever examines the quarantined copy.
    if (conn)
        conn.keep_wal_on_close();
    return attempt{o, one_line(std::move(why)), sqlite_connection(), std::nullopt};
}

/// Either a recoverable verdict (corrupt, or a foreign file we cannot import), or an exception.
attempt classify(const fs::path& file, const char* step, const error_code& ec,
                 sqlite_connection conn) {
    if (is_corruption(ec))
        return give_up(outcome::corrupt, std::string(step) + ": " + describe(ec), std::move(conn));
    refuse(file, std::string(step) + ": " + describe(ec));
}

void log_import(const fs::path& file, const legacy_import_summary& s) {
    std::string tables;
    for (const auto& t : s.renamed_tables)
        tables += (tables.empty() ? "" : ",") + t;
    spdlog::warn(
        "legacy_database_imported path={} sessions={} sessions_skipped={} books={} "
        "deletions_left={} renamed_to_legacy={}",
        file.string(), s.sessions_imported, s.sessions_skipped, s.books_imported, s.deletions_left,
        tables);
    if (s.deletions_left > 0)
        spdlog::warn(
            "legacy_deletions_not_imported path={} count={} table=legacy_pending_deletions",
            file.string(), s.deletions_left);
}

/// A non-empty file that does not start with SQLite's magic is not a database. Saying so
/// before SQLite opens it keeps SQLite from running WAL recovery over a stray -wal/-shm, so the
/// quarantined companions stay as they were found.
bool has_foreign_header(const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in)
        return false;  // missing or unreadable: SQLite creates it or reports why
    char head[16] = {};
    in.read(head, sizeof head);
    auto n = in.gcount();
    return n > 0 && (n < 16 || std::memcmp(head, "SQLite format 3", 16) != 0);
}

attempt try_open(const fs::path& file) {
    if (has_foreign_header(file))
        return give_up(outcome::corrupt, "not an SQLite file (bad header)", sqlite_connection());
    auto opened = sqlite_connection::open(file);
    if (!opened) {
        if (is_corruption(opened.error()))
            return give_up(outcome::corrupt, "open: " + describe(opened.error()),
                           sqlite_connection());
        refuse(file, describe(opened.error()));
    }
    sqlite_connection conn = std::move(*opened);
    if (auto ec = conn.exec(connection_pragmas))
        return classify(file, "pragmas", ec, std::move(conn));

    auto version = conn.query_int64("PRAGMA user_version");
    if (!version)
        return classify(file, "user_version", version.error(), std::move(conn));
    if (*version > latest_schema_version)
        refuse(file,
               "its schema version " + std::to_string(*version) +
                   " is newer than this booklore-syncd knows (" +
                   std::to_string(latest_schema_version) +
                   "); run the newer version, or move the file aside to start an empty queue");

    auto check = conn.query_text("PRAGMA quick_check");
    if (!check)
        return classify(file, "quick_check", check.error(), std::move(conn));
    if (check->value_or("") != "ok")
        return give_up(outcome::corrupt, "quick_check: " + check->value_or("(no answer)"),
                       std::move(conn));

    std::string mode;
    if (auto ec = enable_wal(conn, mode))
        return classify(file, "journal_mode", ec, std::move(conn));
    if (mode != "wal")
        refuse(file, "journal_mode stays '" + mode +
                         "' instead of 'wal'; the filesystem may not support it");

    attempt done;
    if (*version == 0) {
        auto tables = user_tables(conn);
        if (!tables)
            return classify(file, "schema", tables.error(), std::move(conn));
        if (!tables->empty()) {
            // Not ours (ours always has a user_version): the plugin's file at the same path.
            std::string now = utc_now_iso();
            error_code ec = rows::write(conn, [&]() -> error_code {
                auto imported = import_legacy(conn, now);
                if (!imported)
                    return imported.error();
                done.legacy = std::move(*imported);
                return {};
            });
            if (ec) {
                int p = primary_code(ec);
                if (is_corruption(ec) ||
                    (p != SQLITE_ERROR && p != SQLITE_CONSTRAINT && p != SQLITE_MISMATCH))
                    return classify(file, "legacy import", ec, std::move(conn));
                return give_up(outcome::unimportable, "legacy import: " + describe(ec),
                               std::move(conn));
            }
            log_import(file, *done.legacy);
        }
    }
    if (!done.legacy && *version < latest_schema_version) {
        error_code ec = rows::write(
            conn, [&] { return migrate(conn, static_cast<int>(*version), latest_schema_version); });
        if (ec)
            return classify(file, "migration", ec, std::move(conn));
        spdlog::info("database_migrated path={} from={} to={}", file.string(), *version,
                     latest_schema_version);
    }
    done.conn = std::move(conn);
    return done;
}

struct open_state {
    sqlite_connection conn;
    std::optional<fs::path> quarantined_to;
    std::optional<fs::path> moved_aside_to;
    std::optional<legacy_import_summary> legacy;
};

/// Opens, quarantining a corrupt file or moving an unimportable one aside at most once each.
open_state open_file(const fs::path& file) {
    open_state state;
    for (int round = 0; round < 3; ++round) {
        attempt a = try_open(file);
        switch (a.result) {
            case outcome::ready:
                state.conn = std::move(a.conn);
                state.legacy = std::move(a.legacy);
                return state;
            case outcome::corrupt:
                if (state.quarantined_to)
                    refuse(file, "the fresh file is unusable too: " + a.why);
                state.quarantined_to = move_aside(file, "corrupt");
                spdlog::error("database_quarantined path={} moved_to={} reason=\"{}\"",
                              file.string(), state.quarantined_to->string(), a.why);
                break;
            case outcome::unimportable:
                if (state.moved_aside_to)
                    refuse(file, a.why);
                state.moved_aside_to = move_aside(file, "legacy");
                spdlog::error("legacy_database_moved_aside path={} moved_to={} reason=\"{}\"",
                              file.string(), state.moved_aside_to->string(), a.why);
                break;
        }
    }
    refuse(file, "it could not be recovered");
}

}  // namespace

database::database(std::filesystem::path path, sqlite_connection conn)
    : path_(std::move(path)), conn_(std::move(conn)) {}

database database::open(const std::filesystem::path& file) {
    open_state state = open_file(file);
    database db(file, std::move(state.conn));
    db.quarantined_to_ = std::move(state.quarantined_to);
    db.moved_aside_to_ = std::move(state.moved_aside_to);
    db.legacy_import_ = std::move(state.legacy);
    spdlog::info("database_opened path={} schema_version={}", file.string(), latest_schema_version);
    return db;
}

error_code database::ready() {
    if (recovery_ == recovery::none)
        return {};
    // Close first: after a failed fsync or a corrupt read the old connection's view of the file
    // cannot be trusted, so it must not checkpoint either; the next open replays the WAL.
    if (conn_)
        conn_.keep_wal_on_close();
    conn_ = sqlite_connection();
    if (recovery_ == recovery::reconnect) {
        auto conn = connect(path_);
        if (!conn) {
            spdlog::error("database_reopen_failed path={} error=\"{}\"", path_.string(),
                          describe(conn.error()));
            return conn.error();
        }
        conn_ = std::move(*conn);
    } else {
        try {
            open_state state = open_file(path_);
            conn_ = std::move(state.conn);
            if (state.quarantined_to)
                quarantined_to_ = std::move(state.quarantined_to);
        } catch (const std::exception& e) {
            spdlog::error("database_reopen_failed path={} error=\"{}\"", path_.string(), e.what());
            return make_sqlite_error(SQLITE_CANTOPEN);
        }
    }
    recovery_ = recovery::none;
    spdlog::info("database_reopened path={}", path_.string());
    return {};
}

void database::failed(const char* op, const error_code& ec) {
    int p = primary_code(ec);
    if (p == SQLITE_CORRUPT || p == SQLITE_NOTADB)
        recovery_ = recovery::recheck;
    else if ((p == SQLITE_IOERR || p == SQLITE_CANTOPEN) && recovery_ == recovery::none)
        recovery_ = recovery::reconnect;
    spdlog::warn("storage_error op={} code={} error=\"{}\"{}", op, ec.value(), describe(ec),
                 recovery_ == recovery::none ? "" : " recovery=reopen");
}

result<void> database::checkpoint() {
    return guarded("checkpoint", [](sqlite_connection& c) -> result<void> {
        auto busy = c.query_int64("PRAGMA wal_checkpoint(TRUNCATE)");
        if (!busy)
            return busy.error();
        return {};
    });
}

bool is_storage_full(const boost::system::error_code& ec) {
    return primary_code(ec) == SQLITE_FULL;
}

}  // namespace booklore::storage
