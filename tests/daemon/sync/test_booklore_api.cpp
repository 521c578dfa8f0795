#include "daemon/sync/booklore_api.hpp"

#include <rapidjson/document.h>
#include <catch2/catch.hpp>

using namespace booklore::syncd::booklore_api;
using booklore::storage::pending_session;

namespace {

pending_session make_session(std::int64_t id) {
    pending_session s;
    s.id = id;
    s.book_hash = "0123456789abcdef0123456789abcdef";
    s.book_type = "PDF";
    s.start_time = "2026-02-22T14:00:00Z";
    s.end_time = "2026-02-22T15:00:00Z";
    s.duration_seconds = 3600;
    s.start_progress = 25.5;
    s.end_progress = 38.75;
    s.start_location = "120";
    s.end_location = "185";
    return s;
}

}  // namespace

TEST_CASE("duration is formatted as the plugin does", "[unit][api]") {
    CHECK(duration_formatted(0) == "0:00:00");
    CHECK(duration_formatted(3600) == "1:00:00");
    CHECK(duration_formatted(3725) == "1:02:05");
    CHECK(duration_formatted(100 * 3600 + 59) == "100:00:59");
}

TEST_CASE("the batch body has the server's field names and formats", "[unit][api]") {
    std::vector<pending_session> rows{make_session(1), make_session(2)};
    rows[1].start_progress.reset();
    auto body = batch_body(42, "PDF", rows);
    rapidjson::Document d;
    d.Parse(body.c_str());
    REQUIRE(d.IsObject());
    CHECK(d["bookId"].GetInt64() == 42);
    CHECK(std::string(d["bookType"].GetString()) == "PDF");
    REQUIRE(d["sessions"].Size() == 2);
    const auto& s = d["sessions"][0];
    CHECK(std::string(s["startTime"].GetString()) == "2026-02-22T14:00:00Z");
    CHECK(s["durationSeconds"].GetInt() == 3600);
    CHECK(std::string(s["durationFormatted"].GetString()) == "1:00:00");
    CHECK(s["progressDelta"].GetDouble() == Approx(13.25));
    CHECK(std::string(s["startLocation"].GetString()) == "120");
    CHECK_FALSE(d["sessions"][1].HasMember("startProgress"));
    CHECK_FALSE(d["sessions"][1].HasMember("progressDelta"));
}

TEST_CASE("single, unshelve and login bodies", "[unit][api]") {
    rapidjson::Document d;
    d.Parse(single_body(7, make_session(1)).c_str());
    CHECK(d["bookId"].GetInt() == 7);
    CHECK(std::string(d["bookType"].GetString()) == "PDF");
    CHECK(unshelve_body(42, 7) ==
          R"({"bookIds":[42],"shelvesToAssign":[],"shelvesToUnassign":[7]})");
    CHECK(login_body("u\"", "p") == R"({"username":"u\"","password":"p"})");
    CHECK(by_hash_path("abc") == "/api/koreader/books/by-hash/abc");
    CHECK(book_path(5) == "/api/v1/books/5");
    CHECK(sessions_of_book_path(5, 2, 100) == "/api/v1/reading-sessions/book/5?page=2&size=100");
}
