// The queries the sync runs: resolving book ids, freezing batches, moving uploaded rows out.

#include "config/utc_time.hpp"
#include "storage/database.hpp"

#include "storage/rows.hpp"

#include <array>

namespace booklore::storage {

using boost::system::error_code;

namespace {

/// Runs one prepared statement per id, all in one transaction.
error_code for_each_id(sqlite_connection& c, std::span<const std::int64_t> ids,
                       std::string_view sql, auto&& bind_extra) {
    if (ids.empty())
        return {};
    auto s = c.prepare(sql);
    if (!s)
        return s.error();
    return rows::write(c, [&]() -> error_code {
        for (std::int64_t id : ids) {
            s->reset();
            s->bind(1, id);
            bind_extra(*s);
            if (error_code ec = s->run())
                return ec;
        }
        return {};
    });
}

boost::system::result<std::optional<std::int64_t>> first_id(statement& s) {
    auto row = s.step();
    if (!row)
        return row.error();
    return *row ? s.column_optional_int64(0) : std::nullopt;
}

}  // namespace

result<std::vector<std::string>> database::unresolved_hashes() {
    return guarded("unresolved_hashes",
                   [](sqlite_connection& c) -> result<std::vector<std::string>> {
                       // Sessions first, then books opened lately and deletions, so that a later
                       // deletion by path finds its id. An empty hash (the old plugin wrote "" when
                       // it had none) would match unrelated books.
                       auto s = c.prepare(
                           "SELECT book_hash FROM ("
                           " SELECT book_hash, 0 AS source, min(id) AS pos FROM pending_sessions"
                           "  WHERE book_id IS NULL AND book_hash <> '' GROUP BY book_hash"
                           " UNION ALL SELECT book_hash, 1, min(updated_at) FROM book_cache"
                           "  WHERE book_id IS NULL AND book_hash <> ''"
                           "  AND updated_at >= strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-30 days')"
                           "  GROUP BY book_hash"
                           " UNION ALL SELECT book_hash, 2, min(id) FROM pending_deletions"
                           "  WHERE book_id IS NULL AND book_hash IS NOT NULL AND book_hash <> ''"
                           "  GROUP BY book_hash)"
                           " GROUP BY book_hash ORDER BY min(source), min(pos)");
                       if (!s)
                           return s.error();
                       return rows::collect<std::string>(
                           *s, [](const statement& st) { return st.column_text(0); });
                   });
}

result<std::optional<std::int64_t>> database::cached_book_id(const std::string& book_hash) {
    return guarded("cached_book_id",
                   [&](sqlite_connection& c) -> result<std::optional<std::int64_t>> {
                       if (book_hash.empty())
                           return std::optional<std::int64_t>();
                       // A session the reader sent with an id names the book for its hash too,
                       // which is the only way to match books on servers that cannot look a hash
                       // up.
                       auto s = c.prepare(
                           "SELECT book_id FROM (SELECT book_id, 0 AS source, updated_at AS at "
                           "FROM book_cache "
                           "WHERE book_hash = ?1 AND book_id IS NOT NULL UNION ALL SELECT book_id, "
                           "1, created_at "
                           "FROM pending_sessions WHERE book_hash = ?1 AND book_id IS NOT NULL) "
                           "ORDER BY source, at DESC LIMIT 1");
                       if (!s)
                           return s.error();
                       s->bind(1, book_hash);
                       return first_id(*s);
                   });
}

result<void> database::resolve_hash(const std::string& book_hash, std::int64_t book_id) {
    return guarded("resolve_hash", [&](sqlite_connection& c) -> result<void> {
        if (book_hash.empty())
            return {};
        // Rows that already carry an id keep it: they may sit in a frozen batch for that id.
        auto s =
            c.prepare("UPDATE book_cache SET book_id = ?2, updated_at = ?3 WHERE book_hash = ?1");
        auto sessions = c.prepare(
            "UPDATE pending_sessions SET book_id = ?2 WHERE book_hash = ?1 AND book_id IS NULL");
        auto deletions = c.prepare(
            "UPDATE pending_deletions SET book_id = ?2 WHERE book_hash = ?1 AND book_id IS NULL");
        for (auto* p : {&s, &sessions, &deletions}) {
            if (!*p)
                return p->error();
            (*p)->bind(1, book_hash);
            (*p)->bind(2, book_id);
        }
        s->bind(3, utc_now_iso());
        error_code ec = rows::write(c, [&]() -> error_code {
            for (auto* p : {&s, &sessions, &deletions})
                if (error_code e = (*p)->run())
                    return e;
            return {};
        });
        if (ec)
            return ec;
        return {};
    });
}

result<void> database::forget_book_id(std::int64_t book_id) {
    return guarded("forget_book_id", [&](sqlite_connection& c) -> result<void> {
        // The batch key goes too: the rows will be sent again under another id, i.e. as a
        // different request.
        auto cache =
            c.prepare("UPDATE book_cache SET book_id = NULL, updated_at = ?2 WHERE book_id = ?1");
        auto sessions = c.prepare(
            "UPDATE pending_sessions SET book_id = NULL, batch_key = NULL WHERE book_id = ?1");
        if (!cache)
            return cache.error();
        if (!sessions)
            return sessions.error();
        cache->bind(1, book_id);
        cache->bind(2, utc_now_iso());
        sessions->bind(1, book_id);
        error_code ec = rows::write(c, [&]() -> error_code {
            if (error_code e = cache->run())
                return e;
            return sessions->run();
        });
        if (ec)
            return ec;
        return {};
    });
}

result<std::vector<std::int64_t>> database::books_ready() {
    return guarded("books_ready", [](sqlite_connection& c) -> result<std::vector<std::int64_t>> {
        auto s = c.prepare(
            "SELECT book_id FROM pending_sessions WHERE book_id IS NOT NULL GROUP BY book_id "
            "ORDER BY min(id)");
        if (!s)
            return s.error();
        return rows::collect<std::int64_t>(*s,
                                           [](const statement& st) { return st.column_int64(0); });
    });
}

result<std::vector<pending_session>> database::next_batch(std::int64_t book_id, std::int64_t limit,
                                                          const std::string& new_key) {
    return guarded("next_batch", [&](sqlite_connection& c) -> result<std::vector<pending_session>> {
        std::vector<pending_session> batch;
        error_code ec = rows::write(c, [&]() -> error_code {
            // A batch that was sent before keeps its key and members, so a retry is the same
            // request and the server's idempotency check can recognise it.
            auto frozen = c.prepare(
                "SELECT batch_key FROM pending_sessions WHERE book_id = ?1 AND batch_key IS NOT "
                "NULL ORDER BY id LIMIT 1");
            if (!frozen)
                return frozen.error();
            frozen->bind(1, book_id);
            auto row = frozen->step();
            if (!row)
                return row.error();
            std::string key = *row ? frozen->column_text(0) : new_key;
            if (!*row) {
                auto assign = c.prepare(
                    "UPDATE pending_sessions SET batch_key = ?2 WHERE id IN (SELECT id FROM "
                    "pending_sessions WHERE book_id = ?1 AND batch_key IS NULL ORDER BY id LIMIT "
                    "?3)");
                if (!assign)
                    return assign.error();
                assign->bind(1, book_id);
                assign->bind(2, key);
                assign->bind(3, limit);
                if (error_code e = assign->run())
                    return e;
            }
            auto members = c.prepare("SELECT " + std::string(rows::session_columns) +
                                     " FROM pending_sessions WHERE book_id = ?1 AND batch_key = "
                                     "?2 ORDER BY id");
            if (!members)
                return members.error();
            members->bind(1, book_id);
            members->bind(2, key);
            auto read = rows::collect<pending_session>(*members, rows::read_session);
            if (!read)
                return read.error();
            batch = std::move(*read);
            return {};
        });
        if (ec)
            return ec;
        return batch;
    });
}

result<void> database::mark_uploaded(std::span<const std::int64_t> ids) {
    return guarded("mark_uploaded", [&](sqlite_connection& c) -> result<void> {
        if (ids.empty())
            return {};
        const std::string columns(rows::archived_columns);
        auto archive = c.prepare("INSERT INTO historical_sessions (" + columns +
                                 ", uploaded_at) SELECT " + columns +
                                 ", ?2 FROM pending_sessions WHERE id = ?1 "
                                 "ON CONFLICT (id) DO NOTHING");
        auto remove = c.prepare("DELETE FROM pending_sessions WHERE id = ?1");
        if (!archive)
            return archive.error();
        if (!remove)
            return remove.error();
        const std::string now = utc_now_iso();
        error_code ec = rows::write(c, [&]() -> error_code {
            for (std::int64_t id : ids) {
                archive->reset();
                archive->bind(1, id);
                archive->bind(2, now);
                remove->reset();
                remove->bind(1, id);
                if (error_code e = archive->run())
                    return e;
                if (error_code e = remove->run())
                    return e;
            }
            return {};
        });
        if (ec)
            return ec;
        return {};
    });
}

result<void> database::mark_failed(std::span<const std::int64_t> ids, const std::string& error) {
    return guarded("mark_failed", [&](sqlite_connection& c) -> result<void> {
        error_code ec = for_each_id(c, ids,
                                    "UPDATE pending_sessions SET retry_count = retry_count + 1, "
                                    "last_error = ?2 WHERE id = ?1",
                                    [&](statement& s) { s.bind(2, error); });
        if (ec)
            return ec;
        return {};
    });
}

result<void> database::set_in_doubt(std::span<const std::int64_t> ids, bool in_doubt) {
    return guarded("set_in_doubt", [&](sqlite_connection& c) -> result<void> {
        error_code ec =
            for_each_id(c, ids,
                        "UPDATE pending_sessions SET in_doubt = CASE WHEN ?2 THEN "
                        "max(1, CAST(strftime('%s', 'now') AS INTEGER)) ELSE 0 END WHERE id = ?1",
                        [&](statement& s) { s.bind(2, in_doubt ? 1 : 0); });
        if (ec)
            return ec;
        return {};
    });
}

result<std::optional<std::string>> database::isbn_for_hash(const std::string& book_hash) {
    return guarded(
        "isbn_for_hash", [&](sqlite_connection& c) -> result<std::optional<std::string>> {
            auto s = c.prepare(
                "SELECT isbn FROM (SELECT isbn, 0 AS source, updated_at AS at FROM book_cache "
                "WHERE book_hash = ?1 AND isbn IS NOT NULL UNION ALL SELECT isbn, 1, created_at "
                "FROM pending_sessions WHERE book_hash = ?1 AND isbn IS NOT NULL) "
                "ORDER BY source, at DESC LIMIT 1");
            if (!s)
                return s.error();
            s->bind(1, book_hash);
            auto row = s->step();
            if (!row)
                return row.error();
            return *row ? s->column_optional_text(0) : std::nullopt;
        });
}

result<bool> database::sessions_pending_for(const pending_deletion& d) {
    return guarded("sessions_pending_for", [&](sqlite_connection& c) -> result<bool> {
        auto s = c.prepare(
            "SELECT EXISTS (SELECT 1 FROM pending_sessions WHERE (?1 IS NOT NULL AND book_id = ?1) "
            "OR (?2 IS NOT NULL AND ?2 <> '' AND book_hash = ?2) OR file_path = ?3)");
        if (!s)
            return result<bool>(boost::system::in_place_error, s.error());
        s->bind(1, d.book_id);
        s->bind(2, d.book_hash);
        s->bind(3, d.file_path);
        auto row = s->step();
        if (!row)
            return result<bool>(boost::system::in_place_error, row.error());
        return *row && s->column_int64(0) != 0;
    });
}

result<std::vector<pending_deletion>> database::deletions() {
    return list_deletions(-1);
}

result<std::optional<std::int64_t>> database::book_id_for(const std::string& file_path,
                                                          const std::optional<std::string>& hash) {
    return guarded("book_id_for", [&](sqlite_connection& c) -> result<std::optional<std::int64_t>> {
        auto by_path = c.prepare("SELECT book_id FROM book_cache WHERE file_path = ?1");
        if (!by_path)
            return by_path.error();
        by_path->bind(1, file_path);
        auto id = first_id(*by_path);
        if (!id || *id || !hash || hash->empty())
            return id;
        auto by_hash = c.prepare(
            "SELECT book_id FROM book_cache WHERE book_hash = ?1 AND book_id IS NOT NULL "
            "ORDER BY updated_at DESC LIMIT 1");
        if (!by_hash)
            return by_hash.error();
        by_hash->bind(1, *hash);
        return first_id(*by_hash);
    });
}

result<void> database::remove_deletion(std::int64_t id) {
    return guarded("remove_deletion", [&](sqlite_connection& c) -> result<void> {
        std::array<std::int64_t, 1> ids{id};
        error_code ec =
            for_each_id(c, ids, "DELETE FROM pending_deletions WHERE id = ?1", [](statement&) {});
        if (ec)
            return ec;
        return {};
    });
}

result<void> database::mark_deletion_failed(std::int64_t id, const std::string& error) {
    return guarded("mark_deletion_failed", [&](sqlite_connection& c) -> result<void> {
        std::array<std::int64_t, 1> ids{id};
        error_code ec = for_each_id(c, ids,
                                    "UPDATE pending_deletions SET retry_count = retry_count + 1, "
                                    "last_error = ?2 WHERE id = ?1",
                                    [&](statement& s) { s.bind(2, error); });
        if (ec)
            return ec;
        return {};
    });
}

}  // namespace booklore::storage
