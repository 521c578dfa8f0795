#include "daemon/requests/event_fields.hpp"

#include <catch2/catch.hpp>

using namespace booklore::syncd;

namespace {

rapidjson::Document json(const std::string& text) {
    rapidjson::Document d;
    d.Parse(text.c_str());
    REQUIRE_FALSE(d.HasParseError());
    return d;
}

const std::string good =
    R"("book_hash":"0123456789ABCDEF0123456789abcdef","start_time":"2026-02-22T14:00:00Z",)"
    R"("end_time":1771772400,"duration_seconds":3600)";

/// The valid session with `extra` fields first: the first of two equal keys is the one read.
std::string with(const std::string& extra) {
    return "{" + (extra.empty() ? "" : extra + ",") + good + "}";
}

std::string bad_field(const std::string& text) {
    auto doc = json(text);
    auto r = parse_session_end(doc);
    if (auto* e = std::get_if<field_error>(&r))
        return e->field;
    return "<valid>";
}

}  // namespace

TEST_CASE("a valid session is normalised", "[unit][fields]") {
    auto doc =
        json(with(R"J("file_path":"/b/x.Azw","start_location":12,"end_location":"cfi(/6)",)J"
                  R"J("start_progress":0,"end_progress":100,"book_id":null,"event_id":"e1")J"));
    auto r = parse_session_end(doc);
    REQUIRE(std::holds_alternative<booklore::storage::session_record>(r));
    auto& s = std::get<booklore::storage::session_record>(r);
    CHECK(s.book_hash == "0123456789abcdef0123456789abcdef");
    CHECK(s.start_time == "2026-02-22T14:00:00Z");
    CHECK(s.end_time == "2026-02-22T15:00:00Z");
    CHECK(s.duration_seconds == 3600);
    CHECK(s.book_type == "AZW3");
    CHECK(*s.start_location == "12");
    CHECK(*s.end_location == "cfi(/6)");
    CHECK(*s.start_progress == 0);
    CHECK(*s.end_progress == 100);
    CHECK_FALSE(s.book_id);
    CHECK(*s.event_id == "e1");
}

TEST_CASE("book types come from the field in any case, else the extension", "[unit][fields]") {
    CHECK(book_type_for_path("/a/b.pdf") == "PDF");
    CHECK(book_type_for_path("/a/b.CBZ") == "CBX");
    CHECK(book_type_for_path("/a/b.fb2") == "FB2");
    CHECK(book_type_for_path("/a/b.mobi") == "MOBI");
    CHECK(book_type_for_path("/a/b.m4b") == "AUDIOBOOK");
    CHECK(book_type_for_path("/a/b.txt") == "EPUB");
    CHECK(book_type_for_path("/a.dir/noext") == "EPUB");
    CHECK(book_type_for_path("") == "EPUB");
    auto doc = json(with(R"("book_type":"pdf","file_path":"/x.epub")"));
    CHECK(std::get<booklore::storage::session_record>(parse_session_end(doc)).book_type == "PDF");
}

TEST_CASE("every session field is checked", "[unit][fields]") {
    CHECK(bad_field(with("")) == "<valid>");
    CHECK(bad_field(R"({"start_time":1,"end_time":2,"duration_seconds":1})") == "book_hash");
    CHECK(bad_field(with(R"("book_hash":null)")) == "book_hash");
    CHECK(bad_field(with(R"("book_hash":"0123")")) == "book_hash");
    CHECK(bad_field(with(R"("book_hash":"g123456789abcdef0123456789abcdef")")) == "book_hash");
    CHECK(bad_field(with(R"("book_id":-3)")) == "book_id");
    CHECK(bad_field(with(R"("book_id":1.5)")) == "book_id");
    CHECK(bad_field(with(R"("book_id":"7")")) == "book_id");
    CHECK(bad_field(with(R"("book_id":18446744073709551615)")) == "book_id");
    CHECK(bad_field(with(R"("book_type":"KEPUB")")) == "book_type");
    CHECK(bad_field(with(R"("book_type":3)")) == "book_type");
    CHECK(bad_field(with(R"("start_time":"2026-02-22T14:00:00")")) == "start_time");
    CHECK(bad_field(with(R"("start_time":-1)")) == "start_time");
    CHECK(bad_field(with(R"("start_time":1.5)")) == "start_time");
    CHECK(bad_field(with(R"("end_time":1771768799)")) == "end_time");
    CHECK(bad_field(with(R"("duration_seconds":3602)")) == "duration_seconds");
    CHECK(bad_field(with(R"("duration_seconds":3601)")) == "<valid>");
    CHECK(bad_field(with(R"("duration_seconds":true)")) == "duration_seconds");
    CHECK(bad_field(with(R"("start_progress":-0.1)")) == "start_progress");
    CHECK(bad_field(with(R"("end_progress":"5")")) == "end_progress");
    CHECK(bad_field(with(R"("start_location":{})")) == "start_location");
    CHECK(bad_field(with(R"("end_location":")" + std::string(501, 'x') + "\"")) == "end_location");
    CHECK(bad_field(with(R"("end_location":")" + std::string(500, 'x') + "\"")) == "<valid>");
    CHECK(bad_field(with(R"("event_id":")" + std::string(65, 'e') + "\"")) == "event_id");
    CHECK(bad_field(with(R"("event_id":7)")) == "event_id");
    CHECK(bad_field(with(R"("file_path":"")")) == "file_path");
    CHECK(bad_field(with(R"("title":[])")) == "title");
}

TEST_CASE("deletions and openings are checked", "[unit][fields]") {
    auto ok = json(
        R"({"file_path":"/b.epub","book_hash":"0123456789abcdef0123456789ABCDEF","book_id":4})");
    auto d = parse_book_deleted(ok);
    REQUIRE(std::holds_alternative<booklore::storage::deletion_record>(d));
    CHECK(*std::get<booklore::storage::deletion_record>(d).book_hash ==
          "0123456789abcdef0123456789abcdef");
    auto no_path = json(R"({"book_id":4})");
    CHECK(std::get<field_error>(parse_book_deleted(no_path)).field == "file_path");
    auto opened_without_hash = json(R"({"file_path":"/b.epub"})");
    CHECK(std::get<field_error>(parse_book_opened(opened_without_hash)).field == "book_hash");
    auto opened = parse_book_opened(ok);
    CHECK(std::get<booklore::storage::book_sighting>(opened).book_id == 4);
}

TEST_CASE("an ISBN is stored as 13 digits, a bad one is refused", "[unit][fields]") {
    auto doc = json(with(R"("isbn":"0-306-40615-2")"));
    auto r = parse_session_end(doc);
    REQUIRE(std::holds_alternative<booklore::storage::session_record>(r));
    CHECK(std::get<booklore::storage::session_record>(r).isbn == "9780306406157");
    CHECK(bad_field(with(R"("isbn":"978-0-306-40615-8")")) == "isbn");
    CHECK(bad_field(with(R"("isbn":9780306406157)")) == "isbn");
    auto opened = json(R"({"file_path":"/b/x.epub","book_hash":"0123456789abcdef0123456789abcdef",)"
                       R"("isbn":"978 0 306 40615 7"})");
    auto o = parse_book_opened(opened);
    REQUIRE(std::holds_alternative<booklore::storage::book_sighting>(o));
    CHECK(std::get<booklore::storage::book_sighting>(o).isbn == "9780306406157");
}
