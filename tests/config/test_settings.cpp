#include "config/md5.hpp"
#include "config/settings.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

using booklore::config::config_error;
using booklore::config::parse;

namespace {

const std::map<std::string, std::string> base = {
    {"server_url", R"("https://books.example:6060/root")"},
    {"database", R"("/tmp/q.sqlite")"},
    {"socket", R"("/tmp/s.sock")"}};

/// The base configuration with `extra` ("key":value pairs) added or replacing its keys.
std::string with(const std::string& extra) {
    auto doc = base;
    rapidjson::Document parsed;
    parsed.Parse(("{" + extra + "}").c_str());
    REQUIRE(parsed.IsObject());
    for (auto it = parsed.MemberBegin(); it != parsed.MemberEnd(); ++it) {
        rapidjson::StringBuffer value;
        rapidjson::Writer<rapidjson::StringBuffer> writer(value);
        it->value.Accept(writer);
        doc[it->name.GetString()] = value.GetString();
    }
    std::string out = "{";
    for (const auto& [key, value] : doc)
        out += (out.size() > 1 ? ",\"" : "\"") + key + "\":" + value;
    return out + "}";
}

/// The key named by the error a configuration raises.
std::string error_key(const std::string& text) {
    try {
        parse(text, "test.json");
    } catch (const config_error& e) {
        return e.key();
    }
    return "<no error>";
}

}  // namespace

TEST_CASE("defaults follow INTERFACE.md", "[unit][config]") {
    auto s = parse(with(""));
    CHECK(s.manual_sync_only == false);
    CHECK(s.ask_before_enabling_wifi == false);
    CHECK(s.resume_sync_delay_seconds == 15);
    CHECK(s.batch_size == 100);
    CHECK(s.request_timeout_seconds == 10);
    CHECK(s.deletion == booklore::config::deletion_mode::remove);
    CHECK(s.min_session_seconds == 30);
    CHECK(s.log_level == "info");
    CHECK_FALSE(s.ca_file);
    CHECK(s.password_md5.empty());
}

TEST_CASE("the password is kept only as its lowercase MD5", "[unit][config]") {
    auto s = parse(with(R"("username":"ko","password":"secret")"));
    CHECK(s.password_md5 == "5ebe2294ecd0e0f08eab7690d2a6ee69");
    CHECK(booklore::config::md5_hex("") == "d41d8cd98f00b204e9800998ecf8427e");
    auto m = parse(with(R"("password_md5":"5EBE2294ECD0E0F08EAB7690D2A6EE69")"));
    CHECK(m.password_md5 == "5ebe2294ecd0e0f08eab7690d2a6ee69");
}

TEST_CASE("every error names its key", "[unit][config]") {
    CHECK(error_key(R"({"server_url":"ftp://x","database":"/q","socket":"/s"})") == "server_url");
    CHECK(error_key(R"({"server_url":"http://x","socket":"/s"})") == "database");
    CHECK(error_key(R"({"server_url":"http://x","database":"/q"})") == "socket");
    CHECK(error_key(with(R"("server_url2":1)")) == "server_url2");
    CHECK(error_key(R"({"server_url":"ftp://x","database":"/q","socket":"/s"})") == "server_url");
    CHECK(error_key(R"({"server_url":"https://","database":"/q","socket":"/s"})") == "server_url");
    CHECK(error_key(with(R"("batch_size":0)")) == "batch_size");
    CHECK(error_key(with(R"("batch_size":1001)")) == "batch_size");
    CHECK(error_key(with(R"("batch_size":10.5)")) == "batch_size");
    CHECK(error_key(with(R"("batch_size":"100")")) == "batch_size");
    CHECK(error_key(with(R"("manual_sync_only":"yes")")) == "manual_sync_only");
    CHECK(error_key(with(R"("ask_before_enabling_wifi":1)")) == "ask_before_enabling_wifi");
    CHECK(error_key(with(R"("resume_sync_delay_seconds":-1)")) == "resume_sync_delay_seconds");
    CHECK(error_key(with(R"("request_timeout_seconds":0)")) == "request_timeout_seconds");
    CHECK(error_key(with(R"("deletion_mode":"DELETE")")) == "deletion_mode");
    CHECK(error_key(with(R"("deletion_mode":"unshelve")")) == "shelf_id");
    CHECK(error_key(with(R"("deletion_mode":"unshelve","shelf_id":3)")) == "booklore_username");
    CHECK(error_key(with(R"("shelf_id":0)")) == "shelf_id");
    CHECK(error_key(with(R"("min_session_seconds":-5)")) == "min_session_seconds");
    CHECK(error_key(with(R"("log_level":"verbose")")) == "log_level");
    CHECK(error_key(with(R"("password":"a","password_md5":"5ebe2294ecd0e0f08eab7690d2a6ee69")")) ==
          "password_md5");
    CHECK(error_key(with(R"("password_md5":"xyz")")) == "password_md5");
    CHECK(error_key(with(R"("booklore_username":"u")")) == "booklore_password");
    CHECK(error_key(with(R"("socket":")" + std::string(120, 'a') + "\"")) != "<no error>");
    CHECK(
        error_key(
            R"({"server_url":"http://a","server_url":"http://b","database":"/q","socket":"/s"})") ==
        "server_url");
    CHECK(error_key("{not json") == "");
    CHECK(error_key("[1,2]") == "");
}

TEST_CASE("unshelve mode with its account and shelf is accepted", "[unit][config]") {
    auto s = parse(with(
        R"("deletion_mode":"unshelve","shelf_id":7,"booklore_username":"u","booklore_password":"p")"));
    CHECK(s.deletion == booklore::config::deletion_mode::unshelve);
    CHECK(*s.shelf_id == 7);
    CHECK(s.has_booklore_account());
}

TEST_CASE("a file holding a password must not be readable by others", "[unit][config]") {
    auto dir = std::filesystem::temp_directory_path() / "booklore-config-test";
    std::filesystem::create_directories(dir);
    auto file = dir / "c.json";
    std::ofstream(file) << with(R"("password":"secret")");
    ::chmod(file.c_str(), 0644);
    CHECK_THROWS_WITH(booklore::config::load_file(file), Catch::Contains("chmod 600"));
    ::chmod(file.c_str(), 0600);
    CHECK_NOTHROW(booklore::config::load_file(file));
    std::ofstream(file) << with("");
    ::chmod(file.c_str(), 0644);
    CHECK_NOTHROW(booklore::config::load_file(file));  // no secret in it
    CHECK_THROWS_AS(booklore::config::load_file(dir / "missing.json"), config_error);
    std::filesystem::remove_all(dir);
}

TEST_CASE("without server_url the configuration is valid and names no server", "[unit][config]") {
    auto s = parse(R"({"database":"/q","socket":"/s"})");
    CHECK(s.server_url.empty());
}

TEST_CASE("server keys change a copy with the file's own rules", "[unit][config]") {
    auto base = parse(with(R"("username":"ko","password":"secret")"));
    auto apply = [](booklore::config::settings s, const char* json) {
        rapidjson::Document d;
        d.Parse(json);
        booklore::config::apply_server_keys(d, s, "set_settings");
        return s;
    };
    auto changed = apply(base, R"({"server_url":"https://books.example/base","password":"x"})");
    CHECK(changed.server_url == "https://books.example/base");
    CHECK(changed.password_md5 == booklore::config::md5_hex("x"));
    CHECK(changed.username == "ko");
    CHECK(apply(base, R"({"password":""})").password_md5.empty());
    auto refused_key = [&](const char* json) {
        try {
            apply(base, json);
        } catch (const booklore::config::config_error& e) {
            return e.key();
        }
        return std::string("<no error>");
    };
    CHECK(refused_key(R"({"server_url":"books.example"})") == "server_url");
    CHECK(refused_key(R"({"booklore_username":"bl"})") == "booklore_password");
    CHECK(refused_key(R"({"deletion_mode":"unshelve"})") == "shelf_id");
    CHECK(refused_key(R"({"shelf_id":"7"})") == "shelf_id");
    CHECK(refused_key(R"({"batch_size":5})") == "batch_size");
}
