#include "storage/sqlite.hpp"

#include <sqlite3.h>

#include <climits>
#include <cstdio>
#include <utility>

namespace booklore::storage {
namespace {

// Boost's error_category has a protected non-virtual destructor by design (categories are
// static objects, never deleted through a base pointer).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"
class sqlite_error_category final : public boost::system::error_category {
public:
    // A fixed id keeps equality working across shared objects (Boost's recommendation).
    constexpr sqlite_error_category() noexcept : error_category(0x5e8a7c3d21f04b19ULL) {}
    const char* name() const noexcept override { return "sqlite"; }
    std::string message(int ev) const override { return sqlite3_errstr(ev); }
    char const* message(int ev, char* buffer, std::size_t len) const noexcept override {
        std::snprintf(buffer, len, "%s", sqlite3_errstr(ev));
        return buffer;
    }
};
#pragma GCC diagnostic pop

thread_local std::string last_detail;

/// Records the connection's message for the logs and wraps the code.
boost::system::error_code fail(sqlite3* db, int rc) {
    last_detail = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    return make_sqlite_error(rc);
}

}  // namespace

const boost::system::error_category& sqlite_category() noexcept {
    static const sqlite_error_category category;
    return category;
}

boost::system::error_code make_sqlite_error(int rc) noexcept {
    return rc == SQLITE_OK ? boost::system::error_code()
                           : boost::system::error_code(rc, sqlite_category());
}

int primary_code(const boost::system::error_code& ec) noexcept {
    return ec.category() == sqlite_category() ? (ec.value() & 0xff) : -1;
}

const std::string& last_error_detail() noexcept {
    return last_detail;
}

// ---------------------------------------------------------------------------------------------
// connection

void sqlite_connection::closer::operator()(sqlite3* db) const noexcept {
    // close_v2 defers the close if a statement escaped its owner, instead of failing with BUSY.
    sqlite3_close_v2(db);
}

boost::system::result<sqlite_connection> sqlite_connection::open(
    const std::filesystem::path& file) {
    return open_v2(file.c_str(), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
}

boost::system::result<sqlite_connection> sqlite_connection::open_read_only(
    const std::filesystem::path& file) {
    std::error_code fs_error;
    std::string path = std::filesystem::absolute(file, fs_error).string();
    if (fs_error)
        return fail(nullptr, SQLITE_CANTOPEN);
    // "file://" + an absolute path; '%', '?' and '#' in the name are escaped so that they stay
    // part of it instead of starting the query or fragment.
    std::string uri = "file://";
    for (char c : path) {
        if (c == '%' || c == '?' || c == '#') {
            char escaped[4];
            std::snprintf(escaped, sizeof escaped, "%%%02X", static_cast<unsigned char>(c));
            uri += escaped;
        } else {
            uri += c;
        }
    }
    uri += "?mode=ro";
    return open_v2(uri.c_str(), SQLITE_OPEN_READONLY | SQLITE_OPEN_URI);
}

boost::system::result<sqlite_connection> sqlite_connection::open_v2(const char* name, int flags) {
    sqlite3* raw = nullptr;
    int rc = sqlite3_open_v2(name, &raw, flags, nullptr);
    sqlite_connection conn(raw);  // owns the handle even when open failed
    if (rc != SQLITE_OK)
        return fail(raw, raw ? sqlite3_extended_errcode(raw) : rc);
    sqlite3_extended_result_codes(raw, 1);
    return conn;
}

boost::system::error_code sqlite_connection::exec(const std::string& sql) {
    int rc = sqlite3_exec(native(), sql.c_str(), nullptr, nullptr, nullptr);
    return rc == SQLITE_OK ? boost::system::error_code() : fail(native(), rc);
}

boost::system::result<statement> sqlite_connection::prepare(std::string_view sql) {
    if (sql.size() > INT_MAX)
        return fail(nullptr, SQLITE_TOOBIG);
    sqlite3_stmt* raw = nullptr;
    int rc = sqlite3_prepare_v2(native(), sql.data(), static_cast<int>(sql.size()), &raw, nullptr);
    statement stmt(raw);
    if (rc != SQLITE_OK)
        return fail(native(), rc);
    return stmt;
}

namespace {

/// Prepares `sql` and steps once: the statement on its first row, or nothing when there is none.
boost::system::result<std::optional<statement>> first_row(sqlite_connection& conn,
                                                          std::string_view sql) {
    auto stmt = conn.prepare(sql);
    if (!stmt)
        return stmt.error();
    auto row = stmt->step();
    if (!row)
        return row.error();
    if (!*row)
        return std::optional<statement>();
    return std::optional<statement>(std::move(*stmt));
}

}  // namespace

boost::system::result<std::optional<std::string>> sqlite_connection::query_text(
    std::string_view sql) {
    auto stmt = first_row(*this, sql);
    if (!stmt)
        return stmt.error();
    return *stmt ? (*stmt)->column_optional_text(0) : std::optional<std::string>();
}

boost::system::result<std::int64_t> sqlite_connection::query_int64(std::string_view sql) {
    auto stmt = first_row(*this, sql);
    if (!stmt)
        return stmt.error();
    return *stmt ? (*stmt)->column_int64(0) : std::int64_t{0};
}

std::int64_t sqlite_connection::last_insert_rowid() const noexcept {
    return sqlite3_last_insert_rowid(native());
}

std::int64_t sqlite_connection::changes() const noexcept {
    return sqlite3_changes64(native());
}

bool sqlite_connection::in_transaction() const noexcept {
    return sqlite3_get_autocommit(native()) == 0;
}

void sqlite_connection::keep_wal_on_close() noexcept {
    sqlite3_db_config(native(), SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
}

// ---------------------------------------------------------------------------------------------
// statement

void statement::finalizer::operator()(sqlite3_stmt* stmt) const noexcept {
    sqlite3_finalize(stmt);
}

void statement::note_bind(int rc) noexcept {
    if (rc != SQLITE_OK && bind_error_ == SQLITE_OK)
        bind_error_ = rc;
}

void statement::bind(int index, std::int64_t value) noexcept {
    note_bind(sqlite3_bind_int64(handle_.get(), index, value));
}

void statement::bind(int index, double value) noexcept {
    note_bind(sqlite3_bind_double(handle_.get(), index, value));
}

void statement::bind(int index, std::string_view value) noexcept {
    // A null data pointer would bind SQL NULL; an empty view is the empty string.
    const char* data = value.data() ? value.data() : "";
    note_bind(sqlite3_bind_text64(handle_.get(), index, data, value.size(), SQLITE_TRANSIENT,
                                  SQLITE_UTF8));
}

void statement::bind_null(int index) noexcept {
    note_bind(sqlite3_bind_null(handle_.get(), index));
}

boost::system::result<bool> statement::step() noexcept {
    sqlite3* db = sqlite3_db_handle(handle_.get());
    if (bind_error_ != SQLITE_OK)
        return {boost::system::in_place_error, fail(db, bind_error_)};
    int rc = sqlite3_step(handle_.get());
    if (rc == SQLITE_ROW)
        return true;
    if (rc == SQLITE_DONE)
        return false;
    // Explicitly an error: result<bool> would otherwise take the code for a bool.
    return {boost::system::in_place_error, fail(db, rc)};
}

boost::system::error_code statement::run() noexcept {
    for (;;) {
        auto row = step();
        if (!row)
            return row.error();
        if (!*row)
            return {};
    }
}

void statement::reset() noexcept {
    sqlite3_reset(handle_.get());
    sqlite3_clear_bindings(handle_.get());
    bind_error_ = SQLITE_OK;
}

bool statement::column_is_null(int col) const noexcept {
    return sqlite3_column_type(handle_.get(), col) == SQLITE_NULL;
}

std::int64_t statement::column_int64(int col) const noexcept {
    return sqlite3_column_int64(handle_.get(), col);
}

double statement::column_double(int col) const noexcept {
    return sqlite3_column_double(handle_.get(), col);
}

std::string statement::column_text(int col) const {
    auto* text = sqlite3_column_text(handle_.get(), col);
    int size = sqlite3_column_bytes(handle_.get(), col);
    return text ? std::string(reinterpret_cast<const char*>(text), static_cast<std::size_t>(size))
                : std::string();
}

std::optional<std::int64_t> statement::column_optional_int64(int col) const noexcept {
    if (column_is_null(col))
        return std::nullopt;
    return column_int64(col);
}

std::optional<double> statement::column_optional_double(int col) const noexcept {
    if (column_is_null(col))
        return std::nullopt;
    return column_double(col);
}

std::optional<std::string> statement::column_optional_text(int col) const {
    if (column_is_null(col))
        return std::nullopt;
    return column_text(col);
}

// ---------------------------------------------------------------------------------------------
// transaction

boost::system::result<transaction> transaction::begin(sqlite_connection& conn) {
    if (auto ec = conn.exec("BEGIN IMMEDIATE"))
        return ec;
    return transaction(conn);
}

transaction::transaction(transaction&& other) noexcept
    : conn_(std::exchange(other.conn_, nullptr)) {}

transaction::~transaction() {
    // A failed statement may already have rolled the transaction back; only roll back what is
    // still open. The error of a ROLLBACK here is of no use to anyone.
    if (conn_ && *conn_ && conn_->in_transaction())
        sqlite3_exec(conn_->native(), "ROLLBACK", nullptr, nullptr, nullptr);
}

boost::system::error_code transaction::commit() {
    if (!conn_)
        return make_sqlite_error(SQLITE_MISUSE);
    if (auto ec = conn_->exec("COMMIT"))
        return ec;
    conn_ = nullptr;
    return {};
}

}  // namespace booklore::storage
