#include "ipc/request.hpp"

#include <catch2/catch.hpp>

using namespace booklore::ipc;

namespace {

std::string error_line(std::string_view line) {
    auto parsed = parse_request(line);
    REQUIRE(std::holds_alternative<message>(parsed));
    return std::get<message>(parsed).line();
}

}  // namespace

TEST_CASE("a request is one JSON object with a type", "[unit][ipc]") {
    auto parsed = parse_request(R"({"type":"status","id":3})");
    REQUIRE(std::holds_alternative<request>(parsed));
    auto& req = std::get<request>(parsed);
    CHECK(req.type() == "status");
    REQUIRE(req.id());
    CHECK(req.id()->GetInt() == 3);
    CHECK(req.ok().line() == "{\"ok\":true,\"id\":3}\n");
}

TEST_CASE("a trailing carriage return is tolerated", "[unit][ipc]") {
    CHECK(std::holds_alternative<request>(parse_request("{\"type\":\"status\"}\r")));
}

TEST_CASE("malformed lines get the protocol's error codes", "[unit][ipc]") {
    CHECK_THAT(error_line("{"), Catch::Contains("\"code\":\"invalid_json\""));
    CHECK_THAT(error_line(R"({"type":"a"} {"type":"b"})"), Catch::Contains("invalid_json"));
    CHECK_THAT(error_line("\xff\xfe"), Catch::Contains("invalid_json"));
    CHECK_THAT(error_line(R"({"type":"status","x":")"
                          "\xc3\x28"
                          R"("})"),
               Catch::Contains("invalid_json"));
    CHECK_THAT(error_line("[1]"), Catch::Contains("invalid_request"));
    CHECK_THAT(error_line("{}"), Catch::Contains("\"field\":\"type\""));
    CHECK_THAT(error_line(R"({"type":5})"), Catch::Contains("invalid_field"));
    CHECK_THAT(error_line(R"({"type":"status","id":[1]})"), Catch::Contains("\"field\":\"id\""));
    // The id is echoed even when the request is refused.
    CHECK_THAT(error_line(R"({"id":"x"})"), Catch::Contains("\"id\":\"x\""));
    std::string deep(20000, '[');
    deep += std::string(20000, ']');
    CHECK_THAT(error_line(deep), Catch::Contains("invalid_request"));
}

TEST_CASE("messages serialise as one line", "[unit][ipc]") {
    auto m = message::error(error_kind::storage_full, "disk \"full\"", "x");
    CHECK(m.line() ==
          "{\"ok\":false,\"error\":{\"code\":\"storage_full\",\"message\":\"disk \\\"full\\\"\","
          "\"field\":\"x\"}}\n");
    CHECK_FALSE(m.is_ok());
    auto e = message::event("sync_progress");
    e.set("done", 3).set("total", std::int64_t{10}).set("missing", std::optional<std::int64_t>{});
    CHECK(e.line() == "{\"event\":\"sync_progress\",\"done\":3,\"total\":10,\"missing\":null}\n");
    auto replaced = message::ok();
    replaced.set("ok", false);
    CHECK(replaced.line() == "{\"ok\":false}\n");
}
