#include "config/isbn.hpp"
#include "plan_driver.hpp"

#include <catch2/catch.hpp>

using namespace plan_test;
using booklore::normalise_isbn;

namespace {

const canned g_401 = spring_error(401, "Unauthorized");
const canned a_403 = spring_error(403, "Forbidden");
const canned empty_401{401, "", ""};
const canned spa{200, "text/html", "<!doctype html><app-root></app-root>"};
const canned proxy_404{404, "text/html", "<html><center>nginx</center></html>"};

outcome_kind upload(request_kind k, const canned& c, credentials used = credentials::koreader,
                    std::size_t sent = 2) {
    return classify_upload(k, c.view(), sent, used).kind;
}

}  // namespace

TEST_CASE("upload answers of every profile", "[unit][answer]") {
    using enum outcome_kind;
    const auto batch = request_kind::batch;
    const auto single = request_kind::single;
    // G and A: KOReader headers refused by the security layer, Bearer wanted.
    CHECK(upload(single, g_401) == needs_bearer);
    CHECK(upload(single, a_403) == needs_bearer);
    CHECK(upload(batch, g_401) == needs_bearer);
    CHECK(upload(batch, app_error(500, "An unexpected error occurred."), credentials::bearer) ==
          no_batch_endpoint);
    CHECK(upload(single, empty_401, credentials::bearer) == token_refused);
    CHECK(upload(single, a_403, credentials::bearer) == bearer_not_accepted);  // B0's single
    // W: a book outside the user's libraries.
    CHECK(upload(single, app_error(403, "You are not authorized to access this book.")) ==
          forbidden_book);
    CHECK(upload(batch, app_error(403, "You are not authorized to access this book.")) ==
          forbidden_book);
    // Success bodies.
    CHECK(upload(single, {202, "", ""}) == stored);
    CHECK(upload(single, {202, "application/json", R"({"sessionId":5})"}) == stored);
    CHECK(upload(batch, {200, "application/json",
                         R"({"totalRequested":2,"successCount":2,"results":[{},{}]})"}) == stored);
    CHECK(upload(batch, {200, "application/json", R"({"successCount":1,"totalRequested":2})"}) ==
          unknown_outcome);
    CHECK(upload(batch, spa) == no_batch_endpoint);
    CHECK(upload(batch, {200, "application/json", R"({"other":1})"}) == no_batch_endpoint);
    CHECK(upload(single, spa) == server_problem);
    // 404: only the application's "Book not found" is about the book.
    CHECK(upload(single, app_error(404, "Book not found with ID: 9")) == book_not_found);
    CHECK(upload(batch, app_error(404, "Book not found with ID: 9")) == book_not_found);
    CHECK(upload(single, proxy_404) == server_problem);
    CHECK(upload(single, app_error(404, "Resource not found.")) == server_problem);  // G
    CHECK(upload(batch, proxy_404) == no_batch_endpoint);
    // The rest.
    CHECK(upload(single, app_error(400, "Validation error")) == rejected);
    CHECK(upload(batch, app_error(400, "End time must be after start time")) == rejected);
    CHECK(upload(single, app_error(409, "KOReader user is not linked to a BookLore user")) ==
          account_unlinked);
    CHECK(upload(single, app_error(429, "slow down")) == wait_requested);
    CHECK(upload(single, {503, "", ""}) == wait_requested);
    CHECK(upload(single, app_error(500, "An unexpected error occurred.")) == server_error);
    CHECK(upload(single, {502, "text/html", "<html>Bad Gateway</html>"}) == unknown_outcome);
    CHECK(transport_failure(true, "timeout").kind == unknown_outcome);
    CHECK(transport_failure(false, "refused").kind == not_sent);
}

TEST_CASE("the server's session list", "[unit][answer]") {
    fake_server server(profile::W);
    server.sessions.push_back({3, "2026-02-22T14:00:00Z", "2026-02-22T15:00:00Z", 3600});
    auto page = classify_session_page(server.list(credentials::koreader, 0, 100).view(),
                                      credentials::koreader);
    REQUIRE(page.what == session_page::kind::page);
    REQUIRE(page.items.size() == 1);
    CHECK(page.items[0].id == 3);
    CHECK(page.items[0].start_time == "2026-02-22T14:00:00Z");
    CHECK(page.items[0].duration_seconds == 3600);
    CHECK(page.total_pages == 1);
    CHECK(classify_session_page(a_403.view(), credentials::koreader).what ==
          session_page::kind::needs_bearer);
    CHECK(classify_session_page(empty_401.view(), credentials::bearer).what ==
          session_page::kind::unreadable);
    CHECK(classify_session_page(spa.view(), credentials::bearer).what ==
          session_page::kind::unreadable);
    CHECK(classify_session_page(app_error(400, "Validation error").view(), credentials::bearer)
              .what == session_page::kind::unreadable);
    CHECK(classify_session_page(app_error(404, "Book not found with ID: 9").view(),
                                credentials::bearer)
              .what == session_page::kind::book_not_found);
    CHECK(classify_session_page(proxy_404.view(), credentials::bearer).what ==
          session_page::kind::server_problem);
}

TEST_CASE("hash lookup, book list, login", "[unit][answer]") {
    auto found = classify_hash_lookup(
        {200, "application/json", R"({"id":42,"primaryFile":{"bookType":"PDF"},"metadata":{}})"});
    CHECK(found.what == hash_lookup::kind::found);
    CHECK(found.book_id == 42);
    CHECK(found.book_type == "PDF");
    CHECK(classify_hash_lookup(app_error(404, "Book with hash abc not found").view()).what ==
          hash_lookup::kind::not_found);
    CHECK(classify_hash_lookup(proxy_404.view()).what == hash_lookup::kind::server_problem);
    CHECK(classify_hash_lookup(spa.view()).what == hash_lookup::kind::unsupported);  // G, A
    CHECK(classify_hash_lookup(g_401.view()).what == hash_lookup::kind::refused);
    CHECK(classify_hash_lookup({500, "", ""}).what == hash_lookup::kind::failed);

    auto list = classify_book_list(
        {200, "application/json",
         R"([{"id":1,"metadata":{"isbn13":"978-0-441-01359-3","isbn10":"0441013597"}},)"
         R"({"id":2,"metadata":{"isbn10":"0-306-40615-2"}},{"id":3,"metadata":{}},{"id":4}])"},
        credentials::bearer);
    REQUIRE(list.what == book_list::kind::list);
    CHECK(list.isbns == std::vector<std::pair<std::string, std::int64_t>>{{"9780441013593", 1},
                                                                          {"9780306406157", 2}});
    CHECK(classify_book_list(g_401.view(), credentials::koreader).what ==
          book_list::kind::needs_bearer);
    CHECK(classify_book_list(empty_401.view(), credentials::bearer).what ==
          book_list::kind::token_refused);
    CHECK(classify_book_list(spa.view(), credentials::bearer).what == book_list::kind::unsupported);

    // Header {"alg":"HS256"}, payload {"sub":"u","exp":1900000000}, any signature.
    std::string jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1IiwiZXhwIjoxOTAwMDAwMDAwfQ.sig";
    std::string g_body = R"({"accessToken":")" + jwt +
                         R"(","refreshToken":"r","expires":7200,"isDefaultPassword":false})";
    auto login = classify_login({200, "application/json", g_body});
    CHECK(login.what == login_answer::kind::token);
    CHECK(login.access_token == jwt);
    CHECK(login.expires_at == 1900000000);
    auto opaque = classify_login(
        {200, "application/json", R"({"accessToken":"x","isDefaultPassword":"false"})"});
    CHECK(opaque.what == login_answer::kind::token);
    CHECK_FALSE(opaque.expires_at);
    CHECK(classify_login(app_error(400, "Invalid credentials").view()).what ==
          login_answer::kind::refused);
    CHECK(classify_login(app_error(429, "Too many failed login attempts.").view()).what ==
          login_answer::kind::rate_limited);
    CHECK(classify_login(proxy_404.view()).what == login_answer::kind::server_problem);
    CHECK(classify_login(spa.view()).what == login_answer::kind::server_problem);
}

TEST_CASE("deletion answers: the seed's DELETE, real servers, unshelving", "[unit][answer]") {
    using enum deletion_outcome;
    const auto ko = credentials::koreader;
    const auto bearer = credentials::bearer;
    CHECK(classify_deletion({200, "application/json", R"({"id":4,"deleted":true})"}, ko, false) ==
          done);
    CHECK(classify_deletion(app_error(404, "Book not found with ID: 4").view(), ko, false) == done);
    CHECK(classify_deletion(proxy_404.view(), ko, false) == server_problem);
    CHECK(classify_deletion(app_error(500, "An unexpected error occurred.").view(), bearer,
                            false) == route_missing);
    CHECK(classify_deletion(a_403.view(), ko, false) == needs_bearer);
    CHECK(classify_deletion(g_401.view(), bearer, false) == token_refused);
    CHECK(classify_deletion({200, "application/json", "[]"}, bearer, true) == done);
    CHECK(classify_deletion(
              app_error(401, "Cannot unassign shelves that do not belong to the user.").view(),
              bearer, true) == shelf_refused);
    CHECK(classify_deletion(app_error(500, "x").view(), bearer, true) == failed);
    CHECK(answers_like_booklore({200, "application/json", R"({"username":"kouser"})"}));
    CHECK(answers_like_booklore(g_401.view()));
    CHECK(answers_like_booklore(empty_401.view()));
    CHECK_FALSE(answers_like_booklore(spa.view()));
    CHECK_FALSE(answers_like_booklore(proxy_404.view()));
    CHECK(describe(spa.view()) == "HTTP 200: an HTML page instead of JSON");
    CHECK(describe(g_401.view()) == "HTTP 401: Unauthorized");
    CHECK(describe({502, "", ""}) == "HTTP 502");
}

TEST_CASE("ISBNs are compared as 13 digits", "[unit][answer]") {
    CHECK(normalise_isbn("978-0-441-01359-3") == "9780441013593");
    CHECK(normalise_isbn("0441013597") == "9780441013593");
    CHECK(normalise_isbn("0 8044 2957 X") == "9780804429573");
    CHECK(normalise_isbn("080442957x") == "9780804429573");
    CHECK_FALSE(normalise_isbn("9780441013594"));  // check digit
    CHECK_FALSE(normalise_isbn("0441013598"));
    CHECK_FALSE(normalise_isbn("97804410135"));
    CHECK_FALSE(normalise_isbn("X804429570"));
    CHECK_FALSE(normalise_isbn("978044101359X"));
    CHECK_FALSE(normalise_isbn(""));
    CHECK_FALSE(normalise_isbn("978-0-441-01359-3-1"));
}
