#include "config/utc_time.hpp"

#include <catch2/catch.hpp>

using namespace booklore;

TEST_CASE("ISO-8601 times with a zone parse to epoch seconds", "[unit][time]") {
    CHECK(parse_iso_utc("1970-01-01T00:00:00Z") == 0);
    CHECK(parse_iso_utc("2026-02-22T14:00:00Z") == 1771768800);
    CHECK(parse_iso_utc("2026-02-22t14:00:00z") == 1771768800);
    CHECK(parse_iso_utc("2026-02-22T14:00:00.123456Z") == 1771768800);
    CHECK(parse_iso_utc("2026-02-22T15:00:00+01:00") == 1771768800);
    CHECK(parse_iso_utc("2026-02-22T13:30:00-00:30") == 1771768800);
    CHECK(parse_iso_utc("2024-02-29T00:00:00Z").has_value());
    CHECK(parse_iso_utc("9999-12-31T23:59:59Z") == max_epoch_seconds);
}

TEST_CASE("times without a zone or out of range are refused", "[unit][time]") {
    for (const char* bad :
         {"2026-02-22T14:00:00", "2026-02-22T14:00Z", "2026-02-22 14:00:00Z", "2026-02-22",
          "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z", "2023-02-29T00:00:00Z",
          "2026-02-22T24:00:00Z", "2026-02-22T14:60:00Z", "2026-02-22T14:00:60Z",
          "2026-02-22T14:00:00.Z", "2026-02-22T14:00:00+1:00", "2026-02-22T14:00:00Zjunk",
          "1969-12-31T23:59:59Z", "", "Z", "２０２６-02-22T14:00:00Z", "+2026-02-22T14:00:00Z"}) {
        INFO(bad);
        CHECK_FALSE(parse_iso_utc(bad).has_value());
    }
}

TEST_CASE("formatting gives seconds and Z", "[unit][time]") {
    CHECK(format_iso_utc(0) == "1970-01-01T00:00:00Z");
    CHECK(format_iso_utc(1771768800) == "2026-02-22T14:00:00Z");
    CHECK(format_iso_utc(max_epoch_seconds) == "9999-12-31T23:59:59Z");
    for (std::int64_t t : {1LL, 59LL, 86399LL, 951782400LL, 4102444800LL})
        CHECK(parse_iso_utc(format_iso_utc(t)) == t);
}
