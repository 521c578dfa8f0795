#pragma once

// Internal to storage/: column lists and row readers shared by the query files, plus a helper
// for write transactions.

#include "storage/records.hpp"
#include "storage/sqlite.hpp"

#include <string_view>
#include <vector>

namespace booklore::storage::rows {

/// The columns read_session() expects, in order.
inline constexpr std::string_view session_columns =
    "id, event_id, book_id, book_hash, file_path, book_title, book_type, start_time, end_time, "
    "duration_seconds, start_progress, end_progress, start_location, end_location, retry_count, "
    "last_error, created_at, batch_key, isbn, in_doubt";

/// Every column a pending session shares with historical_sessions (session_columns plus the
/// ones no reader needs), for moving rows.
inline constexpr std::string_view archived_columns =
    "id, event_id, book_id, book_hash, file_path, book_title, book_type, start_time, end_time, "
    "duration_seconds, start_progress, end_progress, progress_delta, start_location, end_location, "
    "retry_count, last_error, created_at, batch_key, isbn";

/// The columns read_deletion() expects, in order.
inline constexpr std::string_view deletion_columns =
    "id, event_id, file_path, book_hash, book_id, retry_count, last_error, created_at";

pending_session read_session(const statement& s);
pending_deletion read_deletion(const statement& s);

/// Steps `s` to the end, reading every row with `read`.
template <typename T, typename Read>
boost::system::result<std::vector<T>> collect(statement& s, Read read) {
    std::vector<T> out;
    for (;;) {
        auto row = s.step();
        if (!row)
            return row.error();
        if (!*row)
            return out;
        out.push_back(read(s));
    }
}

/// Runs `body` (returning an error_code) inside BEGIN IMMEDIATE ... COMMIT; rolls back on error.
template <typename Body>
boost::system::error_code write(sqlite_connection& conn, Body&& body) {
    auto txn = transaction::begin(conn);
    if (!txn)
        return txn.error();
    if (boost::system::error_code ec = body())
        return ec;
    return txn->commit();
}

}  // namespace booklore::storage::rows
