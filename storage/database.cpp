// Ingest, listing and settings: what the IPC side of the daemon asks of the queue.

#include "storage/database.hpp"
#include "config/utc_time.hpp"

#include "storage/rows.hpp"

#include <sqlite3.h>

namespace booklore::storage {

using boost::system::error_code;

namespace rows {

pending_session read_session(const statement& s) {
    pending_session r;
    r.id = s.column_int64(0);
    r.event_id = s.column_optional_text(1);
    r.book_id = s.column_optional_int64(2);
    r.book_hash = s.column_text(3);
    r.file_path = s.column_optional_text(4);
    r.book_title = s.column_optional_text(5);
    r.book_type = s.column_text(6);
    r.start_time = s.column_text(7);
    r.end_time = s.column_text(8);
    r.duration_seconds = s.column_int64(9);
    r.start_progress = s.column_optional_double(10);
    r.end_progress = s.column_optional_double(11);
    r.start_location = s.column_optional_text(12);
    r.end_location = s.column_optional_text(13);
    r.retry_count = s.column_int64(14);
    r.last_error = s.column_optional_text(15);
    r.created_at = s.column_text(16);
    r.batch_key = s.column_optional_text(17);
    r.isbn = s.column_optional_text(18);
    if (std::int64_t since = s.column_int64(19); since != 0)
        r.in_doubt_since = since;
    return r;
}

pending_deletion read_deletion(const statement& s) {
    pending_deletion r;
    r.id = s.column_int64(0);
    r.event_id = s.column_optional_text(1);
    r.file_path = s.column_text(2);
    r.book_hash = s.column_optional_text(3);
    r.book_id = s.column_optional_int64(4);
    r.retry_count = s.column_int64(5);
    r.last_error = s.column_optional_text(6);
    r.created_at = s.column_text(7);
    return r;
}

}  // namespace rows

namespace {

/// Writes ingest items inside one transaction; statements are prepared on first use and reused
/// for the rest of the group.
class ingest_writer {
public:
    ingest_writer(sqlite_connection& conn, std::string now) : conn_(conn), now_(std::move(now)) {}

    boost::system::result<enqueue_result> add(const session_record& r) {
        if (r.event_id) {
            auto seen = find_event("session", *r.event_id);
            if (!seen)
                return seen.error();
            if (*seen)
                return enqueue_result{**seen, true};
        }
        auto* s =
            use(insert_session_,
                "INSERT INTO pending_sessions (event_id, book_id, book_hash, file_path, "
                "book_title, book_type, start_time, end_time, duration_seconds, "
                "start_progress, end_progress, progress_delta, start_location, end_location, "
                "created_at, isbn) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, "
                "?13, ?14, ?15, ?16)");
        if (!s)
            return error_;
        std::optional<double> delta;
        if (r.start_progress && r.end_progress)
            delta = *r.end_progress - *r.start_progress;
        s->bind(1, r.event_id);
        s->bind(2, r.book_id);
        s->bind(3, r.book_hash);
        s->bind(4, r.file_path);
        s->bind(5, r.book_title);
        s->bind(6, r.book_type);
        s->bind(7, r.start_time);
        s->bind(8, r.end_time);
        s->bind(9, r.duration_seconds);
        s->bind(10, r.start_progress);
        s->bind(11, r.end_progress);
        s->bind(12, delta);
        s->bind(13, r.start_location);
        s->bind(14, r.end_location);
        s->bind(15, now_);
        s->bind(16, r.isbn);
        if (error_code ec = s->run())
            return ec;
        std::int64_t id = conn_.last_insert_rowid();
        if (r.event_id)
            if (error_code ec = remember_event("session", *r.event_id, id))
                return ec;
        if (r.file_path && !r.file_path->empty())
            if (error_code ec =
                    upsert_book(*r.file_path, r.book_hash, r.book_id, r.book_title, r.isbn))
                return ec;
        return enqueue_result{id, false};
    }

    boost::system::result<enqueue_result> add(const deletion_record& r) {
        if (r.event_id) {
            auto seen = find_event("deletion", *r.event_id);
            if (!seen)
                return seen.error();
            if (*seen)
                return enqueue_result{**seen, true};
        }
        // book_id stays as given: the sync resolves missing ids, when the cache may know more.
        auto* s = use(insert_deletion_,
                      "INSERT INTO pending_deletions (event_id, file_path, book_hash, book_id, "
                      "created_at) VALUES (?1, ?2, ?3, ?4, ?5)");
        if (!s)
            return error_;
        s->bind(1, r.event_id);
        s->bind(2, r.file_path);
        s->bind(3, r.book_hash);
        s->bind(4, r.book_id);
        s->bind(5, now_);
        if (error_code ec = s->run())
            return ec;
        std::int64_t id = conn_.last_insert_rowid();
        if (r.event_id)
            if (error_code ec = remember_event("deletion", *r.event_id, id))
                return ec;
        return enqueue_result{id, false};
    }

    boost::system::result<enqueue_result> add(const book_sighting& r) {
        if (!r.file_path.empty())
            if (error_code ec = upsert_book(r.file_path, r.book_hash, r.book_id, r.title, r.isbn))
                return ec;
        return enqueue_result{};
    }

private:
    statement* use(std::optional<statement>& slot, std::string_view sql) {
        if (!slot) {
            auto s = conn_.prepare(sql);
            if (!s) {
                error_ = s.error();
                return nullptr;
            }
            slot = std::move(*s);
        } else {
            slot->reset();
        }
        return &*slot;
    }

    boost::system::result<std::optional<std::int64_t>> find_event(const char* kind,
                                                                  const std::string& event_id) {
        auto* s =
            use(find_event_, "SELECT queue_id FROM event_ledger WHERE kind = ?1 AND event_id = ?2");
        if (!s)
            return error_;
        s->bind(1, kind);
        s->bind(2, event_id);
        auto row = s->step();
        if (!row)
            return row.error();
        return *row ? std::optional<std::int64_t>(s->column_int64(0)) : std::nullopt;
    }

    error_code remember_event(const char* kind, const std::string& event_id, std::int64_t id) {
        auto* s = use(insert_event_,
                      "INSERT INTO event_ledger (kind, event_id, queue_id, created_at) "
                      "VALUES (?1, ?2, ?3, ?4)");
        if (!s)
            return error_;
        s->bind(1, kind);
        s->bind(2, event_id);
        s->bind(3, id);
        s->bind(4, now_);
        return s->run();
    }

    // An upsert, never INSERT OR REPLACE (which deletes the row). When the file at a path
    // changed (another hash), the id and title cached for the old file are dropped unless
    // given anew.
    error_code upsert_book(const std::string& path, const std::string& hash,
                           const std::optional<std::int64_t>& book_id,
                           const std::optional<std::string>& title,
                           const std::optional<std::string>& isbn) {
        auto* s = use(upsert_book_,
                      "INSERT INTO book_cache (file_path, book_hash, book_id, title, updated_at, "
                      "isbn) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (file_path) DO UPDATE SET "
                      "book_id = CASE WHEN excluded.book_id IS NOT NULL THEN excluded.book_id "
                      "WHEN book_cache.book_hash = excluded.book_hash THEN book_cache.book_id END, "
                      "title = coalesce(excluded.title, CASE WHEN book_cache.book_hash = "
                      "excluded.book_hash THEN book_cache.title END), "
                      "isbn = coalesce(excluded.isbn, CASE WHEN book_cache.book_hash = "
                      "excluded.book_hash THEN book_cache.isbn END), "
                      "book_hash = excluded.book_hash, updated_at = excluded.updated_at");
        if (!s)
            return error_;
        s->bind(1, path);
        s->bind(2, hash);
        s->bind(3, book_id);
        s->bind(4, title);
        s->bind(5, now_);
        s->bind(6, isbn);
        return s->run();
    }

    sqlite_connection& conn_;
    std::string now_;
    error_code error_;
    std::optional<statement> find_event_, insert_event_, insert_session_, insert_deletion_,
        upsert_book_;
};

}  // namespace

result<std::vector<enqueue_result>> database::enqueue(std::span<const ingest_item> items) {
    return guarded("enqueue", [&](sqlite_connection& c) -> result<std::vector<enqueue_result>> {
        std::vector<enqueue_result> out;
        if (items.empty())
            return out;
        out.reserve(items.size());
        ingest_writer writer(c, utc_now_iso());
        error_code ec = rows::write(c, [&]() -> error_code {
            for (const auto& item : items) {
                auto r = std::visit([&](const auto& rec) { return writer.add(rec); }, item);
                if (!r)
                    return r.error();
                out.push_back(*r);
            }
            return {};
        });
        if (ec)
            return ec;
        return out;
    });
}

result<queue_counts> database::counts() {
    return guarded("counts", [](sqlite_connection& c) -> result<queue_counts> {
        // One statement reads one snapshot, so the four numbers agree with each other.
        auto s = c.prepare(
            "SELECT (SELECT count(*) FROM pending_sessions), (SELECT count(*) FROM "
            "pending_deletions), (SELECT count(*) FROM pending_sessions WHERE book_id IS NULL), "
            "(SELECT count(*) FROM historical_sessions)");
        if (!s)
            return s.error();
        auto row = s->step();
        if (!row)
            return row.error();
        return queue_counts{s->column_int64(0), s->column_int64(1), s->column_int64(2),
                            s->column_int64(3)};
    });
}

result<std::vector<pending_session>> database::list_sessions(std::int64_t limit) {
    return guarded("list_sessions",
                   [&](sqlite_connection& c) -> result<std::vector<pending_session>> {
                       auto s = c.prepare("SELECT " + std::string(rows::session_columns) +
                                          " FROM pending_sessions ORDER BY id LIMIT ?1");
                       if (!s)
                           return s.error();
                       s->bind(1, limit);
                       return rows::collect<pending_session>(*s, rows::read_session);
                   });
}

result<std::vector<pending_deletion>> database::list_deletions(std::int64_t limit) {
    return guarded("list_deletions",
                   [&](sqlite_connection& c) -> result<std::vector<pending_deletion>> {
                       auto s = c.prepare("SELECT " + std::string(rows::deletion_columns) +
                                          " FROM pending_deletions ORDER BY id LIMIT ?1");
                       if (!s)
                           return s.error();
                       s->bind(1, limit);
                       return rows::collect<pending_deletion>(*s, rows::read_deletion);
                   });
}

result<std::int64_t> database::clear_sessions() {
    return guarded("clear_sessions", [](sqlite_connection& c) -> result<std::int64_t> {
        std::int64_t cleared = 0;
        // The event ledger keeps the ids: a client retrying an old event still gets duplicate.
        error_code ec = rows::write(c, [&]() -> error_code {
            if (error_code e = c.exec("DELETE FROM pending_sessions"))
                return e;
            cleared = c.changes();
            return {};
        });
        if (ec)
            return ec;
        return cleared;
    });
}

result<std::optional<std::string>> database::get_setting(const std::string& key) {
    return guarded("get_setting", [&](sqlite_connection& c) -> result<std::optional<std::string>> {
        auto s = c.prepare("SELECT value FROM settings WHERE key = ?1");
        if (!s)
            return s.error();
        s->bind(1, key);
        auto row = s->step();
        if (!row)
            return row.error();
        return *row ? s->column_optional_text(0) : std::nullopt;
    });
}

result<void> database::put_setting(const std::string& key, const std::string& value) {
    const setting_change change{key, value};
    return store_settings(std::span(&change, 1));
}

}  // namespace booklore::storage
