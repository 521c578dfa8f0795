#pragma once

#include "storage/records.hpp"
#include "storage/schema.hpp"
#include "storage/sqlite.hpp"

#include <boost/system/result.hpp>

#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

namespace booklore::storage {

template <typename T>
using result = boost::system::result<T>;

/// One event to make durable; enqueue() commits several of them in one transaction.
using ingest_item = std::variant<session_record, deletion_record, book_sighting>;

/// The daemon's queue database. All methods run on the caller's thread and return once the
/// change is durably committed (WAL, synchronous=FULL); errors come back as codes from
/// sqlite_category() (see is_storage_full()).
class database {
public:
    /// Opens (creating if needed) the file: pragmas, `PRAGMA quick_check`, migrations.
    /// A corrupt or not-a-database file is moved aside with its -wal and -shm and replaced by a
    /// fresh one (see quarantined_to()); the KOReader plugin's file is imported (legacy_import()).
    /// Throws std::runtime_error, with a message naming the file and what to do, when the file
    /// cannot be opened at all, was written by a newer version, or fails to migrate.
    static database open(const std::filesystem::path& file);

    /// Commits all items in one transaction; results line up with items (a book_sighting's
    /// result is {0, false}). A repeated event_id is not inserted again: its first queue id is
    /// returned with duplicate = true. On error nothing of the batch is committed.
    result<std::vector<enqueue_result>> enqueue(std::span<const ingest_item> items);

    result<queue_counts> counts();
    result<std::vector<pending_session>> list_sessions(std::int64_t limit);
    result<std::vector<pending_deletion>> list_deletions(std::int64_t limit);
    /// For each session, whether one of the same book already queued or uploaded overlaps it
    /// in time (both ends included): the reading-history import queues only the others.
    result<std::vector<bool>> overlaps_held(std::span<const session_record> sessions);
    /// The file the reader last opened with this hash (book_cache), if it did.
    result<std::optional<std::string>> file_path_for_hash(const std::string& book_hash);
    /// Deletes every pending session; returns how many.
    result<std::int64_t> clear_sessions();

    /// Settings changed over IPC, stored as text by key.
    result<std::optional<std::string>> get_setting(const std::string& key);
    result<void> put_setting(const std::string& key, const std::string& value);
    /// One change of a stored setting: a value, or nullopt to remove the key.
    struct setting_change {
        std::string key;
        std::optional<std::string> value;
    };
    /// Stores several settings in one transaction: all or none.
    result<void> store_settings(std::span<const setting_change> changes);
    /// Makes the database and its -wal/-shm files readable by their owner only (0600): they
    /// hold a password once one is stored.
    result<void> restrict_to_owner();

    // --- used by the sync ---

    /// Distinct hashes whose book id is unknown: pending sessions first, then books opened in
    /// the last 30 days (book_cache) and pending deletions.
    result<std::vector<std::string>> unresolved_hashes();
    /// The known book id for a hash: book_cache, else a pending session that carries one.
    result<std::optional<std::int64_t>> cached_book_id(const std::string& book_hash);
    /// Stores the id in book_cache and on every pending session/deletion with this hash.
    result<void> resolve_hash(const std::string& book_hash, std::int64_t book_id);
    /// The server says this book id does not exist: forget it in book_cache and on pending
    /// sessions so they are resolved by hash again.
    result<void> forget_book_id(std::int64_t book_id);

    /// Book ids that have pending sessions ready to upload, oldest first.
    result<std::vector<std::int64_t>> books_ready();
    /// The next batch for a book: the rows that already share a batch key (a batch that
    /// failed before is re-sent as it was), else up to `limit` oldest rows, which get
    /// `new_key`. Empty when the book has nothing pending.
    result<std::vector<pending_session>> next_batch(std::int64_t book_id, std::int64_t limit,
                                                    const std::string& new_key);
    /// Moves the rows to historical_sessions (keeping their ids) with uploaded_at, in one
    /// transaction.
    result<void> mark_uploaded(std::span<const std::int64_t> ids);
    /// retry_count + 1 and last_error on each row.
    result<void> mark_failed(std::span<const std::int64_t> ids, const std::string& error);
    /// Marks rows whose request is about to leave, with the time (a kill or a lost reply
    /// leaves them set), or clears rows the server surely does not hold. In one transaction.
    result<void> set_in_doubt(std::span<const std::int64_t> ids, bool in_doubt);
    /// The ISBN the reader sent for a book (book_cache, else a pending session), 13 digits.
    result<std::optional<std::string>> isbn_for_hash(const std::string& book_hash);

    result<std::vector<pending_deletion>> deletions();
    /// The id for a deleted file: book_cache by path, then by hash.
    result<std::optional<std::int64_t>> book_id_for(const std::string& file_path,
                                                    const std::optional<std::string>& hash);
    /// Whether sessions of the deleted book (same id, hash or path) are still queued: the
    /// deletion waits for them.
    result<bool> sessions_pending_for(const pending_deletion& d);
    result<void> remove_deletion(std::int64_t id);
    result<void> mark_deletion_failed(std::int64_t id, const std::string& error);

    /// PRAGMA wal_checkpoint(TRUNCATE): hands the WAL's disk space back, e.g. after a sync
    /// moved rows out or after storage_full.
    result<void> checkpoint();

    const std::filesystem::path& path() const { return path_; }

    /// Where a corrupt file was moved (`<name>.corrupt-<UTC>`, with its -wal and -shm), if
    /// open() or a later recovery had to; the daemon reports it.
    const std::optional<std::filesystem::path>& quarantined_to() const { return quarantined_to_; }
    /// Where a pre-existing database that could not be imported was moved (`<name>.legacy-<UTC>`).
    const std::optional<std::filesystem::path>& moved_aside_to() const { return moved_aside_to_; }
    /// What open() took over from the KOReader plugin's database at the same path, if anything.
    const std::optional<legacy_import_summary>& legacy_import() const { return legacy_import_; }

    /// The live connection, for tests and maintenance (e.g. `PRAGMA max_page_count`). Replaced
    /// after an I/O error, so do not keep the reference.
    sqlite_connection& raw_connection() { return conn_; }

private:
    /// After an I/O error the connection is reopened; after corruption the file is checked
    /// (and quarantined) like at open, before the next operation.
    enum class recovery { none, reconnect, recheck };

    database(std::filesystem::path path, sqlite_connection conn);

    /// Runs the pending recovery, if any.
    boost::system::error_code ready();
    /// Logs a failed operation and schedules the recovery its code calls for.
    void failed(const char* op, const boost::system::error_code& ec);
    template <typename F>
    std::invoke_result_t<F&, sqlite_connection&> guarded(const char* op, F&& body) {
        if (auto ec = ready())
            return {boost::system::in_place_error, ec};
        auto r = body(conn_);
        if (!r)
            failed(op, r.error());
        return r;
    }

    std::filesystem::path path_;
    sqlite_connection conn_;
    recovery recovery_ = recovery::none;
    std::optional<std::filesystem::path> quarantined_to_;
    std::optional<std::filesystem::path> moved_aside_to_;
    std::optional<legacy_import_summary> legacy_import_;
};

/// True for SQLITE_FULL (the disk or max_page_count): the reply code is `storage_full`.
bool is_storage_full(const boost::system::error_code& ec);

}  // namespace booklore::storage
