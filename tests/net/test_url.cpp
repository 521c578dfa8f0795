#include <catch2/catch.hpp>

#include "net/error.hpp"
#include "net/url.hpp"

using booklore::net::errc;
using booklore::net::parse_server_url;
using booklore::net::resolve_redirect;
using booklore::net::server_url;

namespace {

boost::system::error_code parse_error(std::string_view text) {
    auto url = parse_server_url(text);
    return url ? boost::system::error_code{} : url.error();
}

server_url parsed(std::string_view text) {
    auto url = parse_server_url(text);
    REQUIRE(url.has_value());
    return *url;
}

}  // namespace

TEST_CASE("server URLs are split into scheme, host, port and base path", "[unit][net]") {
    CHECK(parsed("http://books.example.com") == server_url{false, "books.example.com", 80, ""});
    CHECK(parsed("https://books.example.com/") == server_url{true, "books.example.com", 443, ""});
    CHECK(parsed("HTTPS://Books.Example.COM:8443/BookLore/") ==
          server_url{true, "books.example.com", 8443, "/BookLore"});
    CHECK(parsed("http://127.0.0.1:6060/a/b//") == server_url{false, "127.0.0.1", 6060, "/a/b"});
    CHECK(parsed("http://[::1]:8080") == server_url{false, "::1", 8080, ""});
    CHECK(parsed("https://[FE80::1]/x") == server_url{true, "fe80::1", 443, "/x"});
    CHECK(parsed("http://my_host.lan:65535/p%20q") ==
          server_url{false, "my_host.lan", 65535, "/p%20q"});
}

TEST_CASE("server URLs format their authority and Host header", "[unit][net]") {
    CHECK(parsed("https://h.example").authority() == "h.example:443");
    CHECK(parsed("https://h.example").host_header() == "h.example");
    CHECK(parsed("https://h.example:8443").host_header() == "h.example:8443");
    CHECK(parsed("http://h.example:443").host_header() == "h.example:443");
    CHECK(parsed("http://[::1]:8080").authority() == "[::1]:8080");
    CHECK(parsed("http://[::1]").host_header() == "[::1]");
}

TEST_CASE("bad server URLs are refused with a reason", "[unit][net]") {
    CHECK(parse_error("") == errc::unsupported_scheme);
    CHECK(parse_error("books.example.com") == errc::unsupported_scheme);
    CHECK(parse_error("ftp://books.example.com") == errc::unsupported_scheme);
    CHECK(parse_error("http//books.example.com") == errc::unsupported_scheme);
    CHECK(parse_error("http://") == errc::missing_host);
    CHECK(parse_error("http:///path") == errc::missing_host);
    CHECK(parse_error("http://:8080/") == errc::missing_host);
    CHECK(parse_error("http://user:secret@books.example.com") == errc::userinfo_not_allowed);
    CHECK(parse_error("http://books.example.com:0") == errc::invalid_port);
    CHECK(parse_error("http://books.example.com:65536") == errc::invalid_port);
    CHECK(parse_error("http://books.example.com:") == errc::invalid_port);
    CHECK(parse_error("http://books.example.com:80a") == errc::invalid_port);
    CHECK(parse_error("http://books.example.com:-1") == errc::invalid_port);
    CHECK(parse_error("http://books.example.com:0000080") == errc::invalid_port);
    CHECK(parse_error("http://books.example.com/?x=1") == errc::query_not_allowed);
    CHECK(parse_error("http://books.example.com/#top") == errc::query_not_allowed);
    CHECK(parse_error("http://books.example.com/a%2") == errc::invalid_path);
    CHECK(parse_error("http://books.example.com/a%zz") == errc::invalid_path);
    CHECK(parse_error("http://books.example.com/a\"b") == errc::invalid_path);
    CHECK(parse_error("http://books example.com") == errc::invalid_url);
    CHECK(parse_error(" http://books.example.com") == errc::invalid_url);
    CHECK(parse_error("http://books.example.com\n") == errc::invalid_url);
    CHECK(parse_error("http://bo!ks.example.com") == errc::invalid_host);
    CHECK(parse_error("http://-books.example.com") == errc::invalid_host);
    CHECK(parse_error("http://[::1") == errc::invalid_host);
    CHECK(parse_error("http://[not:v6]") == errc::invalid_host);
    CHECK(parse_error("http://[::1]x") == errc::invalid_host);
    CHECK(parse_error("http://[]") == errc::invalid_host);
    CHECK(parse_error("http://::1/") == errc::missing_host);
    // Every error has a message a user can act on.
    CHECK_THAT(parse_error("http://u:p@h").message(), Catch::Contains("configuration"));
}

TEST_CASE("redirect locations resolve against the request target", "[unit][net]") {
    const server_url server = parsed("https://books.example.com:8443/base");
    auto resolve = [&](std::string_view location) {
        auto where = resolve_redirect(server, "/base/api/v1/items?page=2", location);
        REQUIRE(where.has_value());
        return *where;
    };

    SECTION("absolute path") {
        auto where = resolve("/base/api/v2/items?x=1#frag");
        CHECK(where.target == "/base/api/v2/items?x=1");
        CHECK(where.same_origin_as(server));
    }
    SECTION("relative path and dot segments") {
        CHECK(resolve("other").target == "/base/api/v1/other");
        CHECK(resolve("../v2/items").target == "/base/api/v2/items");
        CHECK(resolve("./x/../y").target == "/base/api/v1/y");
        CHECK(resolve("/a/../../b").target == "/b");
        CHECK(resolve("?page=3").target == "/base/api/v1/items?page=3");
    }
    SECTION("absolute URL on the same origin") {
        auto where = resolve("HTTPS://Books.Example.com:8443/base/x");
        CHECK(where.same_origin_as(server));
        CHECK(where.target == "/base/x");
        CHECK(resolve("https://books.example.com:8443").target == "/");
        CHECK(resolve("https://books.example.com:8443?q").target == "/?q");
        CHECK(resolve("//books.example.com:8443/y").same_origin_as(server));
    }
    SECTION("other origins are recognised") {
        CHECK_FALSE(resolve("http://books.example.com:8443/x").same_origin_as(server));
        CHECK_FALSE(resolve("https://books.example.com/x").same_origin_as(server));
        CHECK_FALSE(resolve("https://evil.example.com:8443/x").same_origin_as(server));
        CHECK_FALSE(resolve("//evil.example.com:8443/x").same_origin_as(server));
    }
    SECTION("unusable locations are errors") {
        CHECK_FALSE(resolve_redirect(server, "/x", "").has_value());
        CHECK_FALSE(resolve_redirect(server, "/x", "#only-fragment").has_value());
        CHECK_FALSE(resolve_redirect(server, "/x", "ftp://books.example.com/").has_value());
        CHECK_FALSE(resolve_redirect(server, "/x", "https://u:p@books.example.com/").has_value());
        CHECK_FALSE(resolve_redirect(server, "/x", "/a b").has_value());
        CHECK_FALSE(resolve_redirect(server, "/x", "/a\r\nSet-Cookie: x").has_value());
    }
}

TEST_CASE("IP literals are told apart from host names", "[unit][net]") {
    CHECK(booklore::net::is_ip_literal("127.0.0.1"));
    CHECK(booklore::net::is_ip_literal("::1"));
    CHECK(booklore::net::is_ip_literal("fe80::1"));
    CHECK_FALSE(booklore::net::is_ip_literal("localhost"));
    CHECK_FALSE(booklore::net::is_ip_literal("1.2.3.4.example"));
    CHECK_FALSE(booklore::net::is_ip_literal("[::1]"));
}
