#pragma once

// Thin RAII layer over the SQLite C API. Every fallible call answers with an error_code in
// sqlite_category() (value = SQLite extended result code), never an exception, so the daemon's
// single thread can turn a full disk into a reply instead of unwinding.

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

struct sqlite3;
struct sqlite3_stmt;

namespace booklore::storage {

/// Error category whose values are SQLite (extended) result codes; message() is sqlite3_errstr.
const boost::system::error_category& sqlite_category() noexcept;

/// Wraps a SQLite result code (SQLITE_OK gives an empty error_code).
boost::system::error_code make_sqlite_error(int rc) noexcept;

/// The primary result code (SQLITE_IOERR for SQLITE_IOERR_FSYNC, ...), or -1 for another category.
int primary_code(const boost::system::error_code& ec) noexcept;

/// sqlite3_errmsg() of the most recent failure on this thread: the detail that the bare result
/// code lacks ("no such table: x"), for logs. A ROLLBACK afterwards would overwrite the
/// connection's own message, hence this copy.
const std::string& last_error_detail() noexcept;

class statement;

/// An open database handle; closed (sqlite3_close_v2) when destroyed.
class sqlite_connection {
public:
    sqlite_connection() = default;

    /// Opens or creates the file with extended result codes on. Nothing else is configured.
    static boost::system::result<sqlite_connection> open(const std::filesystem::path& file);
    /// Opens an existing file read-only, through a `file:` URI with `mode=ro`: never creates
    /// it and never writes it, also while another process has it open (WAL or rollback
    /// journal). SQLite may still create the -wal and -shm files a WAL reader needs.
    static boost::system::result<sqlite_connection> open_read_only(
        const std::filesystem::path& file);

    /// Runs one or more SQL statements that return no rows.
    boost::system::error_code exec(const std::string& sql);
    boost::system::result<statement> prepare(std::string_view sql);
    /// First column of the first row as text, or nullopt when there is no row / it is NULL.
    boost::system::result<std::optional<std::string>> query_text(std::string_view sql);
    /// First column of the first row as an integer (0 when there is no row).
    boost::system::result<std::int64_t> query_int64(std::string_view sql);

    std::int64_t last_insert_rowid() const noexcept;
    /// Rows changed by the most recent INSERT/UPDATE/DELETE.
    std::int64_t changes() const noexcept;
    /// True while a transaction is open (SQLite has not auto-rolled it back).
    bool in_transaction() const noexcept;
    /// Keeps close from checkpointing, so a file being quarantined keeps its -wal as it was.
    void keep_wal_on_close() noexcept;

    explicit operator bool() const noexcept { return handle_ != nullptr; }
    sqlite3* native() const noexcept { return handle_.get(); }

private:
    struct closer {
        void operator()(sqlite3* db) const noexcept;
    };
    explicit sqlite_connection(sqlite3* db) : handle_(db) {}
    static boost::system::result<sqlite_connection> open_v2(const char* name, int flags);

    std::unique_ptr<sqlite3, closer> handle_;
};

/// A prepared statement. Bind errors are remembered and reported by the next step(), so call
/// sites can bind a row without checking each call.
class statement {
public:
    statement() = default;

    /// Binds parameter `index` (1-based).
    void bind(int index, std::int64_t value) noexcept;
    void bind(int index, int value) noexcept { bind(index, static_cast<std::int64_t>(value)); }
    void bind(int index, double value) noexcept;
    void bind(int index, std::string_view value) noexcept;
    void bind(int index, const std::string& value) noexcept {
        bind(index, std::string_view(value));
    }
    void bind(int index, const char* value) noexcept { bind(index, std::string_view(value)); }
    void bind_null(int index) noexcept;
    template <typename T>
    void bind(int index, const std::optional<T>& value) noexcept {
        if (value)
            bind(index, *value);
        else
            bind_null(index);
    }

    /// Advances: true when a row is available, false when done.
    boost::system::result<bool> step() noexcept;
    /// Steps to completion, for statements that return no rows.
    boost::system::error_code run() noexcept;
    /// Makes the statement ready to run again with fresh bindings.
    void reset() noexcept;

    bool column_is_null(int col) const noexcept;
    std::int64_t column_int64(int col) const noexcept;
    double column_double(int col) const noexcept;
    std::string column_text(int col) const;
    std::optional<std::int64_t> column_optional_int64(int col) const noexcept;
    std::optional<double> column_optional_double(int col) const noexcept;
    std::optional<std::string> column_optional_text(int col) const;

private:
    friend class sqlite_connection;
    struct finalizer {
        void operator()(sqlite3_stmt* stmt) const noexcept;
    };
    explicit statement(sqlite3_stmt* stmt) : handle_(stmt) {}
    void note_bind(int rc) noexcept;

    std::unique_ptr<sqlite3_stmt, finalizer> handle_;
    int bind_error_ = 0;
};

/// A write transaction begun with BEGIN IMMEDIATE (so no later statement in it sees SQLITE_BUSY).
/// Rolls back in its destructor unless commit() succeeded; the destructor never throws.
class transaction {
public:
    static boost::system::result<transaction> begin(sqlite_connection& conn);

    transaction(transaction&& other) noexcept;
    transaction& operator=(transaction&&) = delete;
    transaction(const transaction&) = delete;
    ~transaction();

    /// COMMIT. On failure the transaction stays open and the destructor rolls it back, which
    /// SQLite recommends after FULL, IOERR, BUSY or NOMEM.
    boost::system::error_code commit();

private:
    explicit transaction(sqlite_connection& conn) : conn_(&conn) {}
    sqlite_connection* conn_ = nullptr;
};

}  // namespace booklore::storage
