// KOReader page visits made into sessions: grouping, the 300 s gap, progress, short sessions.

#include "daemon/requests/history_import.hpp"

#include <catch2/catch.hpp>

using namespace booklore::syncd;
using booklore::storage::book_history;
using booklore::storage::page_visit;

namespace {

const std::string md5 = "0123456789abcdef0123456789abcdef";
constexpr std::int64_t t0 = 1767225600;  // 2026-01-01T00:00:00Z

book_history book(std::vector<page_visit> visits, std::optional<std::string> hash = md5) {
    return book_history{std::move(hash), "A Book", std::move(visits)};
}

}  // namespace

TEST_CASE("history: visits up to 300 s apart form one session") {
    // Gaps measured from the end of one visit: 100 s after 0..60, then exactly 300 s, then 301.
    auto r = sessions_from_history(book({{10, t0, 60, 200},
                                         {11, t0 + 160, 40, 200},
                                         {12, t0 + 500, 30, 200},
                                         {13, t0 + 831, 50, 200},
                                         {14, t0 + 881, 20, 200}}),
                                   30);
    CHECK(r.skipped == 0);
    REQUIRE(r.sessions.size() == 2);
    const auto& a = r.sessions[0];
    CHECK(a.book_hash == md5);
    CHECK(a.book_title == "A Book");
    CHECK(a.book_type == "EPUB");
    CHECK(a.start_time == "2026-01-01T00:00:00Z");
    CHECK(a.end_time == "2026-01-01T00:08:50Z");  // t0 + 500 + 30
    CHECK(a.duration_seconds == 130);
    CHECK(a.start_progress == Approx(5.0));
    CHECK(a.end_progress == Approx(6.0));
    CHECK(a.start_location == "10");
    CHECK(a.end_location == "12");
    CHECK(a.event_id == history_event_id(md5, t0));
    CHECK(!a.book_id);
    CHECK(!a.file_path);
    const auto& b = r.sessions[1];
    CHECK(b.start_time == "2026-01-01T00:13:51Z");
    CHECK(b.end_time == "2026-01-01T00:15:01Z");
    CHECK(b.duration_seconds == 70);
    CHECK(b.start_location == "13");
    CHECK(b.end_location == "14");
    CHECK(b.event_id == history_event_id(md5, t0 + 831));
}

TEST_CASE("history: the book type is the caller's") {
    auto r = sessions_from_history(book({{1, t0, 60, 10}}), 30, "PDF");
    REQUIRE(r.sessions.size() == 1);
    CHECK(r.sessions[0].book_type == "PDF");
}

TEST_CASE("history: sessions shorter than min_session_seconds are skipped and counted") {
    auto r = sessions_from_history(book({{1, t0, 29, 10}, {2, t0 + 1000, 30, 10}}), 30);
    CHECK(r.skipped == 1);
    REQUIRE(r.sessions.size() == 1);
    CHECK(r.sessions[0].duration_seconds == 30);
    CHECK(r.sessions[0].start_progress == Approx(20.0));
}

TEST_CASE("history: a book without a usable md5 queues nothing") {
    auto r =
        sessions_from_history(book({{1, t0, 100, 10}, {2, t0 + 1000, 100, 10}}, std::nullopt), 30);
    CHECK(r.sessions.empty());
    CHECK(r.skipped == 2);
}

TEST_CASE("history: progress is unknown without a page count and at most 100") {
    auto r = sessions_from_history(book({{5, t0, 60, 0}, {250, t0 + 60, 60, 200}}), 30);
    REQUIRE(r.sessions.size() == 1);
    CHECK(!r.sessions[0].start_progress);
    CHECK(r.sessions[0].end_progress == Approx(100.0));
}

TEST_CASE("history: overlapping visits cannot add up to more than the time they span") {
    // Two devices' statistics merged: the same minute read twice.
    auto r = sessions_from_history(book({{1, t0, 60, 10}, {2, t0 + 10, 60, 10}}), 30);
    REQUIRE(r.sessions.size() == 1);
    CHECK(r.sessions[0].end_time == "2026-01-01T00:01:10Z");
    CHECK(r.sessions[0].duration_seconds == 70);
    // A visit inside a longer one does not move the end back.
    r = sessions_from_history(book({{1, t0, 600, 10}, {2, t0 + 10, 5, 10}}), 30);
    REQUIRE(r.sessions.size() == 1);
    CHECK(r.sessions[0].end_time == "2026-01-01T00:10:00Z");
    CHECK(r.sessions[0].end_location == "2");
}

TEST_CASE("history: visits without a time or a duration are ignored") {
    auto r = sessions_from_history(
        book({{1, 0, 60, 10}, {2, t0, 0, 10}, {3, t0 + 5, 60, 10}, {4, t0 + 70, -5, 10}}), 30);
    REQUIRE(r.sessions.size() == 1);
    CHECK(r.sessions[0].start_time == "2026-01-01T00:00:05Z");
    CHECK(r.sessions[0].duration_seconds == 60);
    CHECK(r.sessions[0].start_location == "3");
    CHECK(sessions_from_history(book({}), 30).sessions.empty());
}

TEST_CASE("history: event ids fit the 64-character limit and name book and start") {
    auto id = history_event_id(md5, 253402300799);
    CHECK(id == "history:" + md5 + ":253402300799");
    CHECK(id.size() <= 64);
    CHECK(history_event_id(md5, t0) != history_event_id(md5, t0 + 1));
}
