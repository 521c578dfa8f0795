#include "plan_driver.hpp"

#include <catch2/catch.hpp>

using namespace plan_test;

namespace {

server_view view_with(bool account) {
    server_view v;
    v.has_booklore_account = account;
    v.list_auth = account ? credentials::bearer : credentials::koreader;
    return v;
}

std::size_t count(const fake_server& s, const std::string& key) {
    auto it = s.requests.find(key);
    return it == s.requests.end() ? 0 : static_cast<std::size_t>(it->second);
}

std::size_t total_requests(const fake_server& s) {
    std::size_t n = 0;
    for (const auto& [key, value] : s.requests)
        n += static_cast<std::size_t>(value);
    return n;
}

}  // namespace

TEST_CASE("every profile stores every row once, with a BookLore account", "[unit][plan]") {
    for (profile p : all_profiles) {
        CAPTURE(name(p));
        server_view view = view_with(true);
        fake_server server{p};
        upload_plan plan(view, 7, make_rows(5));
        auto t = drive(plan, server);
        CHECK_FALSE(t.stopped);
        CHECK(t.uploaded.size() == 5);
        CHECK(t.failed.empty());
        CHECK(t.in_doubt.empty());
        CHECK(server.sessions.size() == 5);
        switch (p) {
            case profile::G:
            case profile::A:
                // batch: KOReader refused, Bearer has no handler; single: KOReader refused once
                CHECK(total_requests(server) == 2 + 1 + 5);
                CHECK(count(server, "single/bearer") == 5);
                CHECK_FALSE(view.batch_usable);
                CHECK(view.single_auth == credentials::bearer);
                break;
            case profile::W:
            case profile::B:
                CHECK(total_requests(server) == 1);
                CHECK(count(server, "batch/ko") == 1);
                CHECK(view.single_auth == credentials::koreader);
                break;
            case profile::B0:
                CHECK(count(server, "batch/ko") == 1);
                CHECK(count(server, "batch/bearer") == 1);
                CHECK(view.batch_auth == credentials::bearer);
                break;
        }
    }
}

TEST_CASE("what the plan learned serves the next book without refusals", "[unit][plan]") {
    server_view view = view_with(true);
    fake_server server{profile::G};
    upload_plan first(view, 7, make_rows(3));
    drive(first, server);
    server.requests.clear();
    upload_plan second(view, 8, make_rows(3));
    auto t = drive(second, server);
    CHECK(t.uploaded.size() == 3);
    CHECK(total_requests(server) == 3);
    CHECK(count(server, "single/bearer") == 3);
}

TEST_CASE("without a BookLore account", "[unit][plan]") {
    for (profile p : all_profiles) {
        CAPTURE(name(p));
        server_view view = view_with(false);
        fake_server server{p};
        upload_plan plan(view, 7, make_rows(4));
        auto t = drive(plan, server);
        if (p == profile::G || p == profile::A) {
            // The rows are not to blame: nothing failed, nothing stays in doubt.
            REQUIRE(t.stopped);
            CHECK(t.stopped->reason == stop_reason::needs_login);
            CHECK_THAT(t.stopped->error, Catch::Contains("booklore_username"));
            CHECK(t.failed.empty());
            CHECK(t.in_doubt.empty());
            CHECK(server.sessions.empty());
        } else {
            CHECK_FALSE(t.stopped);
            CHECK(t.uploaded.size() == 4);
            CHECK(server.sessions.size() == 4);
        }
        if (p == profile::B0) {
            CHECK_FALSE(view.batch_usable);  // Bearer only there
            CHECK(count(server, "single/ko") == 4);
        }
    }
}

TEST_CASE("a book outside the user's libraries is skipped, not a credentials failure",
          "[unit][plan]") {
    server_view view = view_with(true);
    fake_server server{profile::W};
    server.book_accessible = false;
    upload_plan plan(view, 7, make_rows(3));
    auto t = drive(plan, server);
    CHECK_FALSE(t.stopped);
    CHECK(t.did(action_kind::skip_book));
    CHECK(t.failed.size() == 3);
    CHECK_THAT(t.errors.at(0), Catch::Contains("book 7") && Catch::Contains("403") &&
                                   Catch::Contains("not authorized"));
    CHECK(t.in_doubt.empty());
    CHECK(view.batch_usable);
    CHECK(view.single_auth == credentials::koreader);
}

TEST_CASE("only the application's own 404 forgets the book", "[unit][plan]") {
    for (profile p : all_profiles) {
        CAPTURE(name(p));
        server_view view = view_with(true);
        fake_server server{p};
        server.book_exists = false;
        upload_plan plan(view, 7, make_rows(2));
        auto t = drive(plan, server);
        CHECK_FALSE(t.stopped);
        CHECK(t.did(action_kind::forget_book));
        CHECK_THAT(t.errors.at(0), Catch::Contains("Book not found with ID: 7"));
    }
    for (const canned& proxy : {canned{404, "text/html", "<html>Not Found</html>"},
                                canned{404, "text/plain", "404 page not found"},
                                canned{200, "text/html", "<!doctype html><app-root>"}}) {
        CAPTURE(proxy.body);
        server_view view = view_with(true);
        fake_server server{profile::B};
        server.upload_fault = proxy;
        upload_plan plan(view, 7, make_rows(3));
        auto t = drive(plan, server);
        REQUIRE(t.stopped);
        CHECK(t.stopped->reason == stop_reason::server_problem);
        CHECK_THAT(t.stopped->error, Catch::Contains("server_url"));
        CHECK(t.failed.empty());
        CHECK_FALSE(t.did(action_kind::forget_book));
        CHECK(t.in_doubt.empty());
    }
}

TEST_CASE("rows in doubt are checked against the server before they are sent again",
          "[unit][plan]") {
    for (profile p : all_profiles) {
        CAPTURE(name(p));
        server_view view = view_with(true);
        fake_server server{p};
        auto rows = make_rows(6, true);
        // A lost reply stored the first four; two newer sessions of another device are there.
        for (std::size_t i = 0; i < 4; ++i)
            server.sessions.push_back({server.next_id++, rows[i].start_time, rows[i].end_time, 60});
        server.sessions.push_back(
            {server.next_id++, "2027-01-01T00:00:00Z", "2027-01-01T00:01:00Z", 60});
        upload_plan plan(view, 7, rows);
        auto t = drive(plan, server);
        CHECK_FALSE(t.stopped);
        CHECK(t.reconciled.size() == 4);
        CHECK(t.uploaded.size() == 2);
        CHECK(server.sessions.size() == 7);  // 4 + 1 + the 2 not yet there: no duplicate
        CHECK(t.in_doubt.empty());
        CHECK_FALSE(view.no_reconcile);
    }
}

TEST_CASE("reconciliation reads only the pages that reach the oldest row in doubt",
          "[unit][plan]") {
    server_view view = view_with(true);
    fake_server server{profile::B};
    auto all = make_rows(400);
    for (const auto& r : all)
        server.sessions.push_back({server.next_id++, r.start_time, r.end_time, 60});
    // Rows 250..259 were in doubt and are on the server. Newest first, 100 a page: page 0 holds
    // rows 399..300, page 1 rows 299..200, which reaches back past the oldest row in doubt.
    std::vector<plan_row> doubt(all.begin() + 250, all.begin() + 260);
    for (auto& r : doubt)
        r.in_doubt = true;
    upload_plan plan(view, 7, doubt);
    auto t = drive(plan, server);
    CHECK(t.reconciled.size() == 10);
    CHECK(t.uploaded.empty());
    CHECK(count(server, "list/bearer") == 2);  // pages 0 and 1; never 2 and 3
    CHECK(server.sessions.size() == 400);
}

TEST_CASE("where the list cannot be read, rows in doubt go again (at least once)", "[unit][plan]") {
    server_view view = view_with(false);
    fake_server server{profile::B};  // the list is Bearer only on B
    upload_plan plan(view, 7, make_rows(3, true));
    auto t = drive(plan, server);
    CHECK(t.uploaded.size() == 3);
    REQUIRE(view.no_reconcile);
    CHECK_THAT(*view.no_reconcile, Catch::Contains("booklore_username"));
    // W lets KOReader headers read it.
    server_view w_view = view_with(false);
    fake_server w{profile::W};
    upload_plan w_plan(w_view, 7, make_rows(3, true));
    auto wt = drive(w_plan, w);
    CHECK(count(w, "list/ko") == 1);
    CHECK_FALSE(w_view.no_reconcile);
    CHECK(wt.uploaded.size() == 3);
}

TEST_CASE("a lost reply leaves the rows in doubt and stops the run", "[unit][plan]") {
    for (profile p : all_profiles) {
        CAPTURE(name(p));
        server_view view = view_with(true);
        fake_server server{p};
        server.lose_replies = 1;
        upload_plan plan(view, 7, make_rows(3));
        auto t = drive(plan, server);
        REQUIRE(t.stopped);
        CHECK(t.stopped->reason == stop_reason::unreachable);
        CHECK_FALSE(t.in_doubt.empty());
        // Next run: the same rows, in doubt, against what the server stored.
        auto rows = make_rows(3, true);
        upload_plan again(view, 7, rows);
        auto t2 = drive(again, server);
        CHECK_FALSE(t2.stopped);
        CHECK(server.sessions.size() == 3);
        CHECK(t2.reconciled.size() + t2.uploaded.size() == 3);
        CHECK(t2.reconcile_reads == 1);
    }
}

TEST_CASE("per-item results settle each row", "[unit][plan]") {
    server_view view = view_with(true);
    fake_server server{profile::B};
    server.upload_fault = canned{
        200, "application/json",
        R"({"totalRequested":3,"successCount":2,"results":[{"index":0,"status":"created"},)"
        R"({"index":1,"status":"error","message":"bad"},{"index":2,"status":"duplicate"}]})"};
    upload_plan plan(view, 7, make_rows(3));
    auto t = drive(plan, server);
    CHECK(t.uploaded == std::vector<std::size_t>{0, 2});
    CHECK(t.failed == std::vector<std::size_t>{1});
    CHECK(t.in_doubt.empty());
    // A count that does not add up, without per-item status: reconcile next time.
    server.upload_fault =
        canned{200, "application/json", R"({"totalRequested":3,"successCount":2})"};
    upload_plan unsure(view, 7, make_rows(3));
    auto u = drive(unsure, server);
    REQUIRE(u.stopped);
    CHECK(u.in_doubt.size() == 3);
}

TEST_CASE("a refused batch is split so one bad session does not hold back the others",
          "[unit][plan]") {
    server_view view = view_with(true);
    fake_server server{profile::W};
    server.upload_fault = app_error(400, "Validation error");
    upload_plan plan(view, 7, make_rows(3));
    auto t = drive(plan, server);
    CHECK(t.failed.size() == 3);
    CHECK(count(server, "single/ko") == 3);
    CHECK(view.batch_usable);
    CHECK(t.in_doubt.empty());
}

TEST_CASE("waits, server errors, unlinked accounts", "[unit][plan]") {
    SECTION("429 stops without counting rows") {
        server_view view = view_with(true);
        fake_server server{profile::B};
        server.upload_fault = app_error(429, "Too many requests");
        upload_plan plan(view, 7, make_rows(3));
        auto t = drive(plan, server);
        REQUIRE(t.stopped);
        CHECK(t.stopped->reason == stop_reason::wait_requested);
        CHECK(t.failed.empty());
        CHECK(t.in_doubt.empty());
    }
    SECTION("500 on single posts: counted, kept in doubt, stop after three") {
        server_view view = view_with(true);
        view.batch_usable = false;
        fake_server server{profile::B};
        server.upload_fault = app_error(500, "An unexpected error occurred.");
        upload_plan plan(view, 7, make_rows(5));
        auto t = drive(plan, server);
        REQUIRE(t.stopped);
        CHECK(t.stopped->reason == stop_reason::server_failing);
        CHECK(t.failed.size() == 3);
        CHECK(t.in_doubt.size() == 3);  // the two never sent are not in doubt
    }
    SECTION("409: the KOReader account has no BookLore user") {
        server_view view = view_with(false);
        fake_server server{profile::W};
        server.upload_fault = app_error(409, "KOReader user is not linked to a BookLore user");
        upload_plan plan(view, 7, make_rows(2));
        auto t = drive(plan, server);
        REQUIRE(t.stopped);
        CHECK(t.stopped->reason == stop_reason::account_unlinked);
        CHECK(t.failed.empty());
    }
}

TEST_CASE("an expired token is renewed once", "[unit][plan]") {
    server_view view = view_with(true);
    view.batch_usable = false;
    view.single_auth = credentials::bearer;
    fake_server server{profile::A};
    server.upload_fault = canned{401, "", ""};  // A's empty 401 for a bad Bearer
    upload_plan plan(view, 7, make_rows(1));
    auto t = drive(plan, server);
    CHECK(t.renewals == 1);
    REQUIRE(t.stopped);
    CHECK(t.stopped->reason == stop_reason::credentials_refused);  // KOReader headers: 403 too
    CHECK(t.failed.empty());
}

TEST_CASE("a refused or locked login stops the run without counting rows", "[unit][plan]") {
    for (auto [kind, reason] :
         {std::pair{outcome_kind::login_refused, stop_reason::login_refused},
          std::pair{outcome_kind::login_rate_limited, stop_reason::login_rate_limited}}) {
        server_view view = view_with(true);
        fake_server server{profile::G};
        upload_plan plan(view, 7, make_rows(3, true));
        auto t = drive(plan, server, outcome{kind, {}, "HTTP 400: Invalid credentials"});
        REQUIRE(t.stopped);
        CHECK(t.stopped->reason == reason);
        CHECK(t.failed.empty());
        CHECK(t.in_doubt.size() == 3);  // still in doubt from before: nothing was learned
        CHECK(server.sessions.empty());
    }
}
