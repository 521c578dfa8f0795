#include "daemon/live_settings.hpp"

#include "tests/storage/helpers.hpp"

#include <catch2/catch.hpp>

using namespace booklore;
using booklore::syncd::live_settings;

namespace {

rapidjson::Document request(const char* json) {
    rapidjson::Document d;
    d.Parse(json);
    return d;
}

config::settings file_settings(const storage::test::temp_dir& dir) {
    config::settings s;
    s.database = dir.file("queue.sqlite");
    s.socket = dir.file("sock");
    return s;
}

}  // namespace

TEST_CASE("a change is stored, applied, reported and wins over the file at the next start",
          "[unit][settings]") {
    storage::test::temp_dir dir;
    auto from_file = file_settings(dir);
    {
        auto db = storage::database::open(from_file.database);
        live_settings live(from_file, db);
        int changes = 0;
        live.on_change([&] { ++changes; });
        auto outcome = live.apply(request(R"({"type":"set_settings","manual_sync_only":true})"));
        CHECK(std::holds_alternative<std::monostate>(outcome));
        CHECK(live.current().manual_sync_only);
        CHECK(changes == 1);
        rapidjson::Document out;
        CHECK(live.to_json(out.GetAllocator())["manual_sync_only"].GetBool());
    }
    auto db = storage::database::open(from_file.database);
    live_settings again(from_file, db);
    CHECK(again.current().manual_sync_only);
}

TEST_CASE("a refused change names the field and changes nothing", "[unit][settings]") {
    storage::test::temp_dir dir;
    auto from_file = file_settings(dir);
    auto db = storage::database::open(from_file.database);
    live_settings live(from_file, db);
    auto wrong_type = live.apply(request(
        R"({"type":"set_settings","manual_sync_only":true,"ask_before_enabling_wifi":"yes"})"));
    auto* refused = std::get_if<live_settings::refusal>(&wrong_type);
    REQUIRE(refused);
    CHECK(refused->field == "ask_before_enabling_wifi");
    CHECK_FALSE(live.current().manual_sync_only);
    auto unknown = live.apply(request(R"({"type":"set_settings","batch_size":5})"));
    REQUIRE(std::get_if<live_settings::refusal>(&unknown));
    CHECK(std::get<live_settings::refusal>(unknown).field == "batch_size");
}
