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

http_answer json_answer(unsigned status, std::string_view body) {
    return {status, "application/json", body};
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
}

TEST_CASE("batch answers", "[unit][api]") {
    auto ok = json_answer(200, R"({"totalRequested":2,"successCount":2,"results":[]})");
    CHECK(classify_batch(ok, 2) == upload_outcome::stored);
    CHECK(classify_batch(json_answer(200, R"({"totalRequested":2,"successCount":1})"), 2) ==
          upload_outcome::retry_later);
    CHECK(classify_batch({200, "text/html", "<html>"}, 2) == upload_outcome::no_batch_here);
    CHECK(classify_batch(json_answer(200, R"({"other":1})"), 2) == upload_outcome::no_batch_here);
    CHECK(classify_batch(json_answer(200, "not json"), 2) == upload_outcome::no_batch_here);
    for (unsigned status : {403u, 405u, 500u})
        CHECK(classify_batch(json_answer(status, "{}"), 2) == upload_outcome::no_batch_here);
    CHECK(classify_batch(json_answer(404, R"({"message":"Resource not found: x"})"), 2) ==
          upload_outcome::no_batch_here);
    CHECK(classify_batch(json_answer(404, R"({"message":"Book not found with ID: 9"})"), 2) ==
          upload_outcome::book_not_found);
    CHECK(classify_batch(json_answer(401, ""), 2) == upload_outcome::auth_refused);
    CHECK(classify_batch(json_answer(400, R"({"message":"Validation error"})"), 2) ==
          upload_outcome::rejected);
    CHECK(classify_batch(json_answer(429, ""), 2) == upload_outcome::retry_later);
    CHECK(classify_batch(json_answer(502, ""), 2) == upload_outcome::retry_later);
}

TEST_CASE("single answers", "[unit][api]") {
    CHECK(classify_single({202, "", ""}) == upload_outcome::stored);
    CHECK(classify_single(json_answer(202, R"({"sessionId":5})")) == upload_outcome::stored);
    CHECK(classify_single({200, "text/html", "<html>"}) == upload_outcome::retry_later);
    CHECK(classify_single(json_answer(403, "")) == upload_outcome::auth_refused);
    CHECK(classify_single(json_answer(401, "")) == upload_outcome::auth_refused);
    CHECK(classify_single(json_answer(404, "")) == upload_outcome::book_not_found);
    CHECK(classify_single(json_answer(400, "")) == upload_outcome::rejected);
    CHECK(classify_single(json_answer(500, "")) == upload_outcome::retry_later);
}

TEST_CASE("lookup answers", "[unit][api]") {
    auto found = classify_lookup(
        json_answer(200, R"({"id":42,"primaryFile":{"bookType":"PDF"},"metadata":{}})"));
    CHECK(found.what == lookup::kind::found);
    CHECK(found.book_id == 42);
    CHECK(*found.book_type == "PDF");
    CHECK(classify_lookup(json_answer(404, "{}")).what == lookup::kind::not_found);
    CHECK(classify_lookup({200, "text/html", "<html>"}).what == lookup::kind::unsupported);
    CHECK(classify_lookup(json_answer(200, R"({"id":"42"})")).what == lookup::kind::unsupported);
    CHECK(classify_lookup(json_answer(403, "")).what == lookup::kind::auth_refused);
    CHECK(classify_lookup(json_answer(500, "")).what == lookup::kind::failed);
}

TEST_CASE("login answers give a token and its expiry", "[unit][api]") {
    // Header {"alg":"HS256"}, payload {"sub":"u","exp":1900000000}, any signature.
    std::string jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1IiwiZXhwIjoxOTAwMDAwMDAwfQ.sig";
    auto token = parse_login(json_answer(
        200, R"({"accessToken":")" + jwt + R"(","refreshToken":"r","isDefaultPassword":"false"})"));
    REQUIRE(token);
    CHECK(token->access_token == jwt);
    REQUIRE(token->expires_at);
    CHECK(std::chrono::duration_cast<std::chrono::seconds>(token->expires_at->time_since_epoch())
              .count() == 1900000000);
    auto opaque = parse_login(json_answer(200, R"({"accessToken":"opaque"})"));
    REQUIRE(opaque);
    CHECK_FALSE(opaque->expires_at);
    CHECK_FALSE(parse_login(json_answer(400, R"({"message":"Invalid credentials"})")));
    CHECK_FALSE(parse_login(json_answer(200, R"({"accessToken":""})")));
}

TEST_CASE("deletion answers and descriptions", "[unit][api]") {
    CHECK(deletion_done(json_answer(200, "{}")));
    CHECK(deletion_done(json_answer(204, "")));
    CHECK(deletion_done(json_answer(404, "")));
    CHECK_FALSE(deletion_done(json_answer(500, "")));
    CHECK_FALSE(deletion_done(json_answer(401, "")));
    CHECK(
        describe(json_answer(500, R"({"status":500,"message":"An unexpected error occurred."})")) ==
        "HTTP 500: An unexpected error occurred.");
    CHECK(describe({200, "text/html", "<html>"}) == "HTTP 200: an HTML page instead of JSON");
    CHECK(describe({502, "", ""}) == "HTTP 502");
}
