#include <catch2/catch.hpp>

#include "net/http_policy.hpp"
#include "net/tls_context.hpp"

#include <array>
#include <filesystem>
#include <fstream>

#include <unistd.h>

using namespace std::chrono_literals;
using booklore::net::redirect_action;
using booklore::net::redirect_rule;
using boost::beast::http::verb;

TEST_CASE("307 and 308 keep the method, 301-303 only redirect reads", "[unit][net]") {
    for (verb method : {verb::get, verb::head, verb::post, verb::put, verb::delete_}) {
        CHECK(redirect_rule(method, 307) == redirect_action::follow_same_method);
        CHECK(redirect_rule(method, 308) == redirect_action::follow_same_method);
        CHECK(redirect_rule(method, 300) == redirect_action::return_response);
        CHECK(redirect_rule(method, 304) == redirect_action::return_response);
        CHECK(redirect_rule(method, 200) == redirect_action::return_response);
    }
    for (unsigned status : {301u, 302u, 303u}) {
        CHECK(redirect_rule(verb::get, status) == redirect_action::follow_as_get);
        CHECK(redirect_rule(verb::head, status) == redirect_action::follow_as_get);
        CHECK(redirect_rule(verb::post, status) == redirect_action::return_response);
        CHECK(redirect_rule(verb::put, status) == redirect_action::return_response);
        CHECK(redirect_rule(verb::delete_, status) == redirect_action::return_response);
    }
}

TEST_CASE("JSON media types are recognised", "[unit][net]") {
    CHECK(booklore::net::is_json_media_type("application/json"));
    CHECK(booklore::net::is_json_media_type("Application/JSON; charset=utf-8"));
    CHECK(booklore::net::is_json_media_type("application/problem+json"));
    CHECK_FALSE(booklore::net::is_json_media_type("text/html"));
    CHECK_FALSE(booklore::net::is_json_media_type("application/jsonp"));
    CHECK_FALSE(booklore::net::is_json_media_type(""));
}

TEST_CASE("a CA bundle is looked for only when OpenSSL's defaults are missing", "[unit][net]") {
    const auto dir = std::filesystem::temp_directory_path() /
                     ("booklore-tls-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "bundle.pem") << "x";
    const std::array<std::filesystem::path, 2> candidates = {dir / "missing.pem",
                                                             dir / "bundle.pem"};
    using booklore::net::fallback_ca_bundle;
    CHECK(fallback_ca_bundle(dir / "no-file", dir / "no-dir", candidates) == dir / "bundle.pem");
    CHECK_FALSE(fallback_ca_bundle(dir / "no-file", dir, candidates));
    CHECK_FALSE(fallback_ca_bundle(dir / "bundle.pem", dir / "no-dir", candidates));
    CHECK_FALSE(
        fallback_ca_bundle(dir / "no-file", dir / "no-dir", std::span(candidates).first(1)));
    std::filesystem::remove_all(dir);
}

TEST_CASE("an unusable ca_file is a configuration error", "[unit][net]") {
    using booklore::net::make_client_tls_context;
    CHECK_THROWS_WITH(
        make_client_tls_context(std::filesystem::path("/nonexistent/ca.pem")),
        Catch::Contains("ca_file /nonexistent/ca.pem") && Catch::Contains("cannot be read"));
    const auto junk = std::filesystem::temp_directory_path() /
                      ("booklore-junk-" + std::to_string(::getpid()) + ".pem");
    std::ofstream(junk) << "not a certificate\n";
    CHECK_THROWS_WITH(make_client_tls_context(junk), Catch::Contains("no usable PEM certificate"));
    std::filesystem::remove(junk);
    CHECK_NOTHROW(make_client_tls_context(std::nullopt));
}
