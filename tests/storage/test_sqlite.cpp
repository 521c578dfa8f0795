// The RAII layer: error category, statements, the transaction guard.

#include "tests/storage/helpers.hpp"

#include <sqlite3.h>

using namespace booklore::storage;
using namespace booklore::storage::test;

namespace {

sqlite_connection memory_db() {
    auto c = sqlite_connection::open(":memory:");
    REQUIRE(c.has_value());
    REQUIRE(!c->exec("CREATE TABLE t (id INTEGER PRIMARY KEY, i INTEGER, d REAL, s TEXT)"));
    return std::move(*c);
}

}  // namespace

TEST_CASE("sqlite_category carries extended codes and SQLite's messages") {
    auto ec = make_sqlite_error(SQLITE_IOERR_FSYNC);
    CHECK(ec.category() == sqlite_category());
    CHECK(std::string(ec.category().name()) == "sqlite");
    CHECK(ec.value() == SQLITE_IOERR_FSYNC);
    CHECK(primary_code(ec) == SQLITE_IOERR);
    CHECK(ec.message() == sqlite3_errstr(SQLITE_IOERR_FSYNC));
    CHECK(make_sqlite_error(SQLITE_FULL).message() == "database or disk is full");
    CHECK(!make_sqlite_error(SQLITE_OK));
    CHECK(is_storage_full(make_sqlite_error(SQLITE_FULL)));
    CHECK(!is_storage_full(make_sqlite_error(SQLITE_IOERR)));
    CHECK(!is_storage_full(make_error_code(boost::system::errc::no_space_on_device)));
    CHECK(primary_code(make_error_code(boost::system::errc::io_error)) == -1);
}

TEST_CASE("statements bind, step and read every type") {
    sqlite_connection c = memory_db();
    auto ins = c.prepare("INSERT INTO t (i, d, s) VALUES (?1, ?2, ?3)");
    REQUIRE(ins.has_value());
    ins->bind(1, std::int64_t{1} << 40);
    ins->bind(2, 2.5);
    ins->bind(3, std::string_view("text with \0 inside", 18));
    REQUIRE(!ins->run());
    CHECK(c.last_insert_rowid() == 1);
    CHECK(c.changes() == 1);
    ins->reset();
    ins->bind(1, std::optional<std::int64_t>());
    ins->bind(2, std::optional<double>());
    ins->bind(3, std::optional<std::string>());
    REQUIRE(!ins->run());

    ins->reset();
    ins->bind(3, std::string_view());  // empty, not NULL
    REQUIRE(!ins->run());

    auto sel = c.prepare("SELECT i, d, s FROM t ORDER BY id");
    REQUIRE(sel.has_value());
    REQUIRE(*sel->step());
    CHECK(sel->column_int64(0) == std::int64_t{1} << 40);
    CHECK(sel->column_double(1) == 2.5);
    CHECK(sel->column_text(2) == std::string("text with \0 inside", 18));
    REQUIRE(*sel->step());
    CHECK(sel->column_is_null(0));
    CHECK(!sel->column_optional_int64(0));
    CHECK(!sel->column_optional_double(1));
    CHECK(!sel->column_optional_text(2));
    REQUIRE(*sel->step());
    CHECK(sel->column_optional_text(2) == "");
    CHECK(!*sel->step());
}

TEST_CASE("errors come back as codes with the detail kept for logs") {
    sqlite_connection c = memory_db();
    auto bad = c.prepare("SELECT nope FROM t");
    REQUIRE(!bad.has_value());
    CHECK(primary_code(bad.error()) == SQLITE_ERROR);
    CHECK(last_error_detail().find("nope") != std::string::npos);

    auto s = c.prepare("SELECT ?1");
    REQUIRE(s.has_value());
    s->bind(5, 1);  // out of range: reported by step
    auto row = s->step();
    REQUIRE(!row.has_value());
    CHECK(row.error() == make_sqlite_error(SQLITE_RANGE));
}

TEST_CASE("a transaction guard rolls back unless committed") {
    sqlite_connection c = memory_db();
    {
        auto txn = transaction::begin(c);
        REQUIRE(txn.has_value());
        CHECK(c.in_transaction());
        REQUIRE(!c.exec("INSERT INTO t (i) VALUES (1)"));
    }
    CHECK(!c.in_transaction());
    CHECK(query_int(c, "SELECT count(*) FROM t") == 0);
    {
        auto txn = transaction::begin(c);
        REQUIRE(txn.has_value());
        REQUIRE(!c.exec("INSERT INTO t (i) VALUES (2)"));
        REQUIRE(!txn->commit());
        CHECK(txn->commit() == make_sqlite_error(SQLITE_MISUSE));
    }
    CHECK(query_int(c, "SELECT count(*) FROM t") == 1);
    {
        // A nested BEGIN fails cleanly and leaves the outer transaction alone.
        auto outer = transaction::begin(c);
        REQUIRE(outer.has_value());
        auto inner = transaction::begin(c);
        CHECK(!inner.has_value());
        CHECK(c.in_transaction());
    }
    CHECK(!c.in_transaction());
}
