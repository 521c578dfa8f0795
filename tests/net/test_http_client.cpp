#include <catch2/catch.hpp>

#include "booklore/version.hpp"
#include "http_test_server.hpp"
#include "net/error.hpp"
#include "net/http_client.hpp"
#include "test_certificates.hpp"

#include <spdlog/logger.h>
#include <spdlog/sinks/ostream_sink.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>

#include <chrono>
#include <sstream>

using namespace std::chrono_literals;
using namespace booklore::net;
using namespace booklore::net::test;
using boost::beast::http::verb;
namespace asio = boost::asio;

namespace {

/// Runs one awaitable on the test's io_context (the server runs there too) until it is done.
template <class T>
T run(asio::io_context& ioc, asio::awaitable<T> task, std::chrono::seconds limit = 10s) {
    std::optional<T> result;
    std::exception_ptr error;
    asio::co_spawn(ioc, std::move(task), [&](std::exception_ptr e, T value) {
        error = e;
        result = std::move(value);
    });
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!result && std::chrono::steady_clock::now() < deadline) {
        if (ioc.stopped())
            ioc.restart();
        ioc.run_one_for(50ms);
    }
    if (error)
        std::rethrow_exception(error);
    REQUIRE(result.has_value());
    return std::move(*result);
}

/// Sends one request and requires a response.
response must_answer(asio::io_context& ioc, http_client& client, request req) {
    auto result = run(ioc, client.send(std::move(req)));
    if (auto* problem = std::get_if<failure>(&result))
        FAIL("request failed: " << problem->detail << " (" << problem->code.message() << ")");
    return std::get<response>(result);
}

/// Sends one request and requires a failure.
failure must_fail(asio::io_context& ioc, http_client& client, request req) {
    auto result = run(ioc, client.send(std::move(req)));
    if (auto* answer = std::get_if<response>(&result))
        FAIL("request unexpectedly got status " << answer->status);
    return std::get<failure>(result);
}

/// Everything the clients of a test log, at debug level.
struct captured_log {
    std::ostringstream text;
    std::shared_ptr<spdlog::logger> logger = [this] {
        auto l = std::make_shared<spdlog::logger>(
            "net", std::make_shared<spdlog::sinks::ostream_sink_st>(text));
        l->set_level(spdlog::level::debug);
        return l;
    }();
};

captured_log& test_log() {
    static captured_log log;
    return log;
}

client_options options_for(const std::string& url, std::chrono::milliseconds timeout = 2000ms) {
    client_options options;
    options.server_url = url;
    options.timeout = timeout;
    options.logger = test_log().logger;
    return options;
}

std::string http_url(const test_server& server, const std::string& path = "") {
    return "http://127.0.0.1:" + std::to_string(server.port()) + path;
}

request get(std::string target) {
    return {verb::get, std::move(target), {}, std::nullopt};
}

request post(std::string target, std::string body) {
    return {verb::post,
            std::move(target),
            {{"x-auth-user", "reader"}, {"x-auth-key", "0123abcd"}},
            std::move(body)};
}

}  // namespace

TEST_CASE("GET and POST round trips carry the expected headers", "[integration][net]") {
    asio::io_context ioc;
    test_server server(ioc);
    http_client client(ioc.get_executor(), options_for(http_url(server, "/booklore/")));

    server.on_request([](const received_request& req) {
        return reply{http_response(200, R"({"method":")" + req.method + "\"}",
                                   "Retry-After: 30\r\n", "application/json; charset=utf-8")};
    });
    const response got = must_answer(ioc, client, get("/api/v1/books?hash=ab"));
    CHECK(got.status == 200);
    CHECK(got.body == R"({"method":"GET"})");
    CHECK(got.is_json());

    const response posted = must_answer(ioc, client, post("/api/v1/sessions", R"({"a":1})"));
    CHECK(posted.body == R"({"method":"POST"})");

    REQUIRE(server.requests().size() == 2);
    const auto& read = server.requests()[0];
    CHECK(read.method == "GET");
    CHECK(read.target == "/booklore/api/v1/books?hash=ab");
    CHECK(read.header("host") == "127.0.0.1:" + std::to_string(server.port()));
    CHECK(read.header("user-agent") == std::string("booklore-syncd/") + booklore::version);
    CHECK(read.header("accept") == "application/json");
    CHECK_FALSE(read.header("content-type"));
    CHECK(read.body.empty());

    const auto& write = server.requests()[1];
    CHECK(write.method == "POST");
    CHECK(write.target == "/booklore/api/v1/sessions");
    CHECK(write.header("content-type") == "application/json");
    CHECK(write.header("content-length") == "7");
    CHECK(write.header("x-auth-user") == "reader");
    CHECK(write.header("x-auth-key") == "0123abcd");
    CHECK(write.body == R"({"a":1})");
}

TEST_CASE("non-JSON answers and error statuses are responses, not failures", "[integration][net]") {
    asio::io_context ioc;
    test_server server(ioc);
    http_client client(ioc.get_executor(), options_for(http_url(server)));
    server.on_request([](const received_request&) {
        return reply{http_response(503, "<html>busy</html>",
                                   "Retry-After: Thu, 01 Jan 1970 00:00:00 GMT\r\n", "text/html")};
    });
    const response got = must_answer(ioc, client, get("/x"));
    CHECK(got.status == 503);
    CHECK_FALSE(got.is_json());
    CHECK(got.content_type == "text/html");
}

TEST_CASE("requests that would corrupt the wire are refused unsent", "[integration][net]") {
    asio::io_context ioc;
    test_server server(ioc);
    http_client client(ioc.get_executor(), options_for(http_url(server)));
    request bad = post("/x", "{}");
    bad.headers.emplace_back("x-auth-key", "abc\r\nX-Injected: 1");
    const failure f = must_fail(ioc, client, bad);
    CHECK(f.code == errc::invalid_request);
    CHECK(f.before_request_sent);
    CHECK_THAT(f.detail, !Catch::Contains("abc"));
    CHECK(must_fail(ioc, client, get("relative")).code == errc::invalid_request);
    CHECK(must_fail(ioc, client, get("/a b")).code == errc::invalid_request);
    CHECK(server.connections() == 0);
}

TEST_CASE("a kept-alive connection serves consecutive requests", "[integration][net]") {
    asio::io_context ioc;
    test_server server(ioc);
    http_client client(ioc.get_executor(), options_for(http_url(server)));
    for (int i = 0; i < 3; ++i)
        CHECK(must_answer(ioc, client, post("/x", "{}")).status == 200);
    CHECK(client.connections_opened() == 1);
    CHECK(server.connections() == 1);

    client.close();
    CHECK(must_answer(ioc, client, get("/x")).status == 200);
    CHECK(client.connections_opened() == 2);
}

TEST_CASE("Connection: close from the server makes the next request reconnect",
          "[integration][net]") {
    asio::io_context ioc;
    test_server server(ioc);
    server.on_request([](const received_request&) {
        return reply{http_response(200, "{}", "Connection: close\r\n"), true};
    });
    http_client client(ioc.get_executor(), options_for(http_url(server)));
    CHECK(must_answer(ioc, client, get("/a")).status == 200);
    CHECK(must_answer(ioc, client, get("/b")).status == 200);
    CHECK(client.connections_opened() == 2);
    CHECK(server.requests().size() == 2);
}

TEST_CASE("an idle connection closed by the server is replaced before sending",
          "[integration][net]") {
    asio::io_context ioc;
    test_server server(ioc);
    // Closes after every answer, without saying so: an idle-timeout on the server side.
    server.on_request([](const received_request&) {
        return reply{http_response(200, "{}"), true};
    });
    http_client client(ioc.get_executor(), options_for(http_url(server)));
    CHECK(must_answer(ioc, client, post("/a", "{}")).status == 200);
    test_log().text.str("");
    // Let the FIN arrive at the client before the next request.
    run(ioc, [](asio::io_context& io) -> asio::awaitable<bool> {
        asio::steady_timer t(io, 50ms);
        co_await t.async_wait(asio::use_awaitable);
        co_return true;
    }(ioc));
    CHECK(must_answer(ioc, client, post("/b", "{}")).status == 200);
    CHECK(client.connections_opened() == 2);
    REQUIRE(server.requests().size() == 2);
    CHECK(server.requests()[1].connection == 2);
    // Noticed before writing: nothing was sent into the dead connection, nothing resent.
    CHECK_THAT(test_log().text.str(),
               Catch::Contains("http_connection_stale") && !Catch::Contains("http_resend"));
}

TEST_CASE("a reused connection that dies before answering is retried once, if idempotent",
          "[integration][net]") {
    asio::io_context ioc;
    test_server server(ioc);
    server.on_request([](const received_request& req) {
        // The server drops its first connection on the second request, unanswered.
        if (req.connection == 1 && req.target == "/second")
            return reply{"", true};
        return reply{http_response(200, "{}")};
    });
    http_client client(ioc.get_executor(), options_for(http_url(server)));
    CHECK(must_answer(ioc, client, post("/first", "{}")).status == 200);
    CHECK(must_answer(ioc, client, request{verb::put, "/second", {}, R"({"n":2})"}).status == 200);
    CHECK(client.connections_opened() == 2);
    REQUIRE(server.requests().size() == 3);
    CHECK(server.requests()[2].target == "/second");
    CHECK(server.requests()[2].body == R"({"n":2})");
    CHECK(server.requests()[2].connection == 2);
    // A POST may have been stored before the server dropped it: never sent twice.
    server.on_request([](const received_request& req) {
        return req.connection == 2 ? reply{"", true} : reply{http_response(200, "{}")};
    });
    CHECK_FALSE(must_fail(ioc, client, post("/third", "{}")).before_request_sent);
    CHECK(server.requests().size() == 4);
}

TEST_CASE("a fresh connection that dies before answering is not retried", "[integration][net]") {
    asio::io_context ioc;
    test_server server(ioc);
    server.on_request([](const received_request&) { return reply{"", true}; });
    http_client client(ioc.get_executor(), options_for(http_url(server)));
    const failure f = must_fail(ioc, client, post("/x", "{}"));
    CHECK_FALSE(f.before_request_sent);
    CHECK_THAT(f.detail, Catch::Contains("closed the connection without answering"));
    CHECK(server.requests().size() == 1);
}

TEST_CASE("a partial response is a failure and never resent", "[integration][net]") {
    asio::io_context ioc;
    test_server server(ioc);
    server.on_request([](const received_request& req) {
        if (req.target == "/second")
            return reply{"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"par", true};
        return reply{http_response(200, "{}")};
    });
    http_client client(ioc.get_executor(), options_for(http_url(server)));
    CHECK(must_answer(ioc, client, post("/first", "{}")).status == 200);
    const failure f = must_fail(ioc, client, post("/second", "{}"));
    CHECK_FALSE(f.before_request_sent);
    CHECK_THAT(f.detail, Catch::Contains("middle of the response"));
    CHECK(server.requests().size() == 2);
}

TEST_CASE("a server that never answers times out the read, without a resend",
          "[integration][net]") {
    asio::io_context ioc;
    test_server server(ioc);
    server.on_request([](const received_request& req) {
        return req.target == "/slow" ? reply{"", false, true} : reply{http_response(200, "{}")};
    });
    http_client client(ioc.get_executor(), options_for(http_url(server), 300ms));
    CHECK(must_answer(ioc, client, get("/fast")).status == 200);

    const auto started = std::chrono::steady_clock::now();
    const failure f = must_fail(ioc, client, post("/slow", "{}"));
    const auto elapsed = std::chrono::steady_clock::now() - started;
    CHECK(f.code == boost::beast::error::timeout);
    CHECK(f.detail == "timed out waiting for the response");
    CHECK_FALSE(f.before_request_sent);
    CHECK(elapsed >= 290ms);
    CHECK(elapsed < 1300ms);
    CHECK(server.requests().size() == 2);

    // The next request works on a new connection.
    CHECK(must_answer(ioc, client, get("/fast")).status == 200);
    CHECK(client.connections_opened() == 2);
}

TEST_CASE("a refused connection fails before anything is sent", "[integration][net]") {
    asio::io_context ioc;
    std::uint16_t port = 0;
    {
        asio::ip::tcp::acceptor probe(ioc, {asio::ip::make_address("127.0.0.1"), 0});
        port = probe.local_endpoint().port();
    }
    http_client client(ioc.get_executor(), options_for("http://127.0.0.1:" + std::to_string(port)));
    const failure f = must_fail(ioc, client, post("/x", "{}"));
    CHECK(f.code == asio::error::connection_refused);
    CHECK(f.before_request_sent);
    CHECK(f.detail == "connect 127.0.0.1:" + std::to_string(port) + ": Connection refused");
    CHECK(client.connections_opened() == 0);
}

TEST_CASE("a connect that gets no answer times out", "[integration][net]") {
    asio::io_context ioc;
    // A listener whose accept queue is full drops new SYNs: the connect hangs.
    asio::ip::tcp::acceptor full(ioc);
    const asio::ip::tcp::endpoint any(asio::ip::make_address("127.0.0.1"), 0);
    full.open(any.protocol());
    full.bind(any);
    full.listen(0);
    asio::ip::tcp::socket filler(ioc);
    filler.connect(full.local_endpoint());
    const std::string authority = "127.0.0.1:" + std::to_string(full.local_endpoint().port());

    http_client client(ioc.get_executor(), options_for("http://" + authority, 300ms));
    const auto started = std::chrono::steady_clock::now();
    const failure f = must_fail(ioc, client, post("/x", "{}"));
    CHECK(std::chrono::steady_clock::now() - started < 1300ms);
    CHECK(f.code == boost::beast::error::timeout);
    CHECK(f.detail == "timed out connecting to " + authority);
    CHECK(f.before_request_sent);
}

TEST_CASE("host names are resolved", "[integration][net]") {
    asio::io_context ioc;
    test_server server(ioc);
    http_client client(ioc.get_executor(),
                       options_for("http://localhost:" + std::to_string(server.port())));
    CHECK(must_answer(ioc, client, get("/x")).status == 200);
    REQUIRE(server.requests().size() == 1);
    CHECK(server.requests()[0].header("host") == "localhost:" + std::to_string(server.port()));
}

TEST_CASE("IPv6 literals work", "[integration][net]") {
    asio::io_context ioc;
    std::optional<test_server> server;
    try {
        server.emplace(ioc, std::nullopt, "::1");
    } catch (const boost::system::system_error&) {
        WARN("no IPv6 loopback here; skipped");
        return;
    }
    const std::string port = std::to_string(server->port());
    http_client client(ioc.get_executor(), options_for("http://[::1]:" + port));
    CHECK(must_answer(ioc, client, get("/x")).status == 200);
    CHECK(server->requests()[0].header("host") == "[::1]:" + port);
}

TEST_CASE("responses over the size limit fail", "[integration][net]") {
    asio::io_context ioc;
    test_server server(ioc);
    server.on_request([](const received_request& req) {
        if (req.target == "/chunked")
            return reply{
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                "400\r\n" +
                std::string(1024, 'x') + "\r\n0\r\n\r\n"};
        return reply{http_response(200, std::string(req.target == "/big" ? 1025 : 1024, 'x'))};
    });
    auto options = options_for(http_url(server));
    options.max_response_body = 1024;
    http_client client(ioc.get_executor(), options);
    CHECK(must_answer(ioc, client, get("/fits")).body.size() == 1024);
    const failure f = must_fail(ioc, client, get("/big"));
    CHECK(f.code == errc::response_too_large);
    CHECK_FALSE(f.before_request_sent);
    CHECK(must_answer(ioc, client, get("/chunked")).body.size() == 1024);

    server.on_request([](const received_request&) {
        return reply{
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            "401\r\n" +
            std::string(1025, 'x') + "\r\n0\r\n\r\n"};
    });
    CHECK(must_fail(ioc, client, get("/chunked")).code == errc::response_too_large);
}

TEST_CASE("redirects on the same origin are followed", "[integration][net]") {
    asio::io_context ioc;
    test_server server(ioc);
    server.on_request([](const received_request& req) {
        if (req.target == "/base/old")
            return reply{http_response(302, "", "Location: /base/new\r\n")};
        if (req.target == "/base/upload")
            return reply{http_response(308, "", "Location: upload2\r\n")};
        if (req.target == "/base/form")
            return reply{http_response(303, "", "Location: /base/new\r\n")};
        return reply{http_response(200, "{\"at\":\"" + req.target + "\"}")};
    });
    http_client client(ioc.get_executor(), options_for(http_url(server, "/base")));

    SECTION("GET after 302") {
        const response got = must_answer(ioc, client, get("/old"));
        CHECK(got.status == 200);
        CHECK(got.body == R"({"at":"/base/new"})");
        REQUIRE(server.requests().size() == 2);
        CHECK(server.requests()[1].method == "GET");
    }
    SECTION("POST keeps its method and body after 308") {
        const response got = must_answer(ioc, client, post("/upload", R"({"s":1})"));
        CHECK(got.body == R"({"at":"/base/upload2"})");
        REQUIRE(server.requests().size() == 2);
        CHECK(server.requests()[1].method == "POST");
        CHECK(server.requests()[1].body == R"({"s":1})");
        CHECK(server.requests()[1].header("content-type") == "application/json");
        CHECK(server.requests()[1].header("x-auth-key") == "0123abcd");
    }
    SECTION("POST is not turned into a GET by 303") {
        const response got = must_answer(ioc, client, post("/form", "{}"));
        CHECK(got.status == 303);
        CHECK(got.location == "/base/new");
        CHECK(server.requests().size() == 1);
    }
    CHECK(client.connections_opened() == 1);
}

TEST_CASE("header values never reach the log", "[integration][net]") {
    asio::io_context ioc;
    test_server server(ioc);
    server.on_request([](const received_request& req) {
        if (req.target == "/start")
            return reply{http_response(302, "", "Location: /next?token=location-secret\r\n")};
        if (req.target == "/away")
            return reply{http_response(302, "", "Location: http://elsewhere/?t=away-secret\r\n")};
        return reply{http_response(200, "{}")};
    });
    http_client client(ioc.get_executor(), options_for(http_url(server)));
    test_log().text.str("");
    request req = get("/start");
    req.headers = {{"authorization", "Bearer token-secret"}, {"x-auth-key", "md5-secret"}};
    CHECK(must_answer(ioc, client, req).status == 200);
    req.target = "/away";
    CHECK(must_answer(ioc, client, req).status == 302);
    const std::string log = test_log().text.str();
    CHECK_THAT(log, Catch::Contains("http_request") && Catch::Contains("http_response") &&
                        Catch::Contains("http_redirect_not_followed"));
    CHECK_THAT(log, !Catch::Contains("secret"));
}

TEST_CASE("redirects are bounded", "[integration][net]") {
    asio::io_context ioc;
    test_server server(ioc);
    server.on_request([](const received_request& req) {
        return reply{http_response(307, "", "Location: " + req.target + "\r\n")};
    });
    auto options = options_for(http_url(server));
    options.max_redirects = 3;
    http_client client(ioc.get_executor(), options);
    const failure f = must_fail(ioc, client, get("/loop"));
    CHECK(f.code == errc::too_many_redirects);
    CHECK_FALSE(f.before_request_sent);
    CHECK(server.requests().size() == 4);
}

TEST_CASE("redirects to another host or port are returned, not followed", "[integration][net]") {
    asio::io_context ioc;
    test_server server(ioc);
    test_server other(ioc);
    const std::string port = std::to_string(server.port());
    std::string location;
    server.on_request([&](const received_request&) {
        return reply{http_response(302, "", "Location: " + location + "\r\n")};
    });
    http_client client(ioc.get_executor(), options_for(http_url(server)));
    for (std::string target : {"http://localhost:" + port + "/x",
                               "http://127.0.0.1:" + std::to_string(other.port()) + "/x",
                               "https://127.0.0.1:" + port + "/x", "//localhost:" + port + "/x"}) {
        location = target;
        const response got = must_answer(ioc, client, get("/start"));
        CHECK(got.status == 302);
        CHECK(got.location == target);
    }
    CHECK(server.requests().size() == 4);
    CHECK(other.connections() == 0);
}

// ---------------------------------------------------------------------------------------------
// TLS

namespace {

struct tls_fixture {
    test_ca ca{"booklore test CA"};
    temp_dir dir;
    std::filesystem::path ca_file = dir.write("ca.pem", ca.certificate_pem());
    asio::io_context ioc;

    client_options options(const std::string& host, const test_server& server) const {
        auto opts = options_for("https://" + host + ":" + std::to_string(server.port()));
        opts.ca_file = ca_file;
        return opts;
    }
};

/// The TLS refusals: the handshake fails, so the credentials in the request never leave.
void check_refused(tls_fixture& fx, test_server& server, client_options options, errc expected,
                   const std::string& reason) {
    http_client client(fx.ioc.get_executor(), std::move(options));
    const failure f = must_fail(fx.ioc, client, post("/api/v1/sessions", R"({"secret":1})"));
    CHECK(f.code == expected);
    CHECK(f.before_request_sent);
    CHECK_THAT(f.detail, Catch::StartsWith("TLS handshake with ") &&
                             Catch::Contains("certificate verify failed (" + reason + ")"));
    CHECK(server.requests().empty());
    CHECK(server.bytes_received() == 0);
    CHECK(client.connections_opened() == 0);
}

}  // namespace

TEST_CASE_METHOD(tls_fixture, "TLS to a server signed by ca_file works and keeps alive",
                 "[integration][net][tls]") {
    test_server server(ioc, ca.issue("DNS:localhost,IP:127.0.0.1,IP:::1"));
    for (std::string host : {"localhost", "127.0.0.1"}) {
        http_client client(ioc.get_executor(), options(host, server));
        for (int i = 0; i < 3; ++i)
            CHECK(must_answer(ioc, client, post("/x", "{}")).status == 200);
        CHECK(client.connections_opened() == 1);
        run(ioc, [](http_client& c) -> asio::awaitable<bool> {
            co_await c.shutdown();
            co_return true;
        }(client));
    }
    CHECK(server.connections() == 2);
    CHECK(server.requests().size() == 6);
}

TEST_CASE_METHOD(tls_fixture, "TLS: Connection: close and idle closes reconnect",
                 "[integration][net][tls]") {
    test_server server(ioc, ca.issue("DNS:localhost"));
    server.on_request([](const received_request& req) {
        if (req.target == "/close")
            return reply{http_response(200, "{}", "Connection: close\r\n"), true};
        if (req.target == "/drop")
            return reply{"", true};
        return reply{http_response(200, "{}")};
    });
    http_client client(ioc.get_executor(), options("localhost", server));
    CHECK(must_answer(ioc, client, get("/close")).status == 200);
    CHECK(must_answer(ioc, client, get("/ok")).status == 200);
    CHECK(client.connections_opened() == 2);
    // A reused connection dropped without an answer: one resend on a new connection, for an
    // idempotent request only.
    server.on_request([](const received_request& req) {
        return req.connection == 2 ? reply{"", true} : reply{http_response(200, "{}")};
    });
    CHECK(must_answer(ioc, client, get("/again")).status == 200);
    CHECK(client.connections_opened() == 3);
    server.on_request([](const received_request& req) {
        return req.connection == 3 ? reply{"", true} : reply{http_response(200, "{}")};
    });
    CHECK_FALSE(must_fail(ioc, client, post("/once", "{}")).before_request_sent);
    CHECK(client.connections_opened() == 3);
}

TEST_CASE_METHOD(tls_fixture, "TLS: an unknown CA is refused before sending",
                 "[integration][net][tls]") {
    test_server server(ioc, ca.issue("DNS:localhost"));
    SECTION("system trust store only") {
        auto opts = options("localhost", server);
        opts.ca_file.reset();
        check_refused(*this, server, opts, errc::certificate_untrusted,
                      "unable to get local issuer certificate");
    }
    SECTION("another CA in ca_file") {
        test_ca other("another CA");
        auto opts = options("localhost", server);
        opts.ca_file = dir.write("other.pem", other.certificate_pem());
        check_refused(*this, server, opts, errc::certificate_untrusted,
                      "unable to get local issuer certificate");
    }
}

TEST_CASE_METHOD(tls_fixture, "TLS: a certificate for another name is refused before sending",
                 "[integration][net][tls]") {
    SECTION("host name") {
        test_server server(ioc, ca.issue("DNS:books.example.com,IP:127.0.0.1"));
        check_refused(*this, server, options("localhost", server), errc::certificate_name_mismatch,
                      "hostname mismatch");
    }
    SECTION("IP address") {
        test_server server(ioc, ca.issue("DNS:localhost,IP:127.0.0.2"));
        check_refused(*this, server, options("127.0.0.1", server), errc::certificate_name_mismatch,
                      "IP address mismatch");
    }
    SECTION("no partial wildcards") {
        test_server server(ioc, ca.issue("DNS:local*"));
        check_refused(*this, server, options("localhost", server), errc::certificate_name_mismatch,
                      "hostname mismatch");
    }
}

TEST_CASE_METHOD(tls_fixture, "TLS: expired and not-yet-valid certificates are refused",
                 "[integration][net][tls]") {
    SECTION("expired") {
        test_server server(ioc, ca.issue("DNS:localhost", -48h, -24h));
        check_refused(*this, server, options("localhost", server), errc::certificate_expired,
                      "certificate has expired");
    }
    SECTION("not yet valid") {
        test_server server(ioc, ca.issue("DNS:localhost", 24h, 48h));
        check_refused(*this, server, options("localhost", server), errc::certificate_not_yet_valid,
                      "certificate is not yet valid");
    }
}

TEST_CASE_METHOD(tls_fixture, "TLS: a server that never handshakes times out",
                 "[integration][net][tls]") {
    test_server server(ioc, ca.issue("DNS:localhost"));
    server.set_silent(true);
    auto opts = options("localhost", server);
    opts.timeout = 300ms;
    http_client client(ioc.get_executor(), opts);
    const auto started = std::chrono::steady_clock::now();
    const failure f = must_fail(ioc, client, post("/x", "{}"));
    CHECK(std::chrono::steady_clock::now() - started < 1300ms);
    CHECK(f.code == boost::beast::error::timeout);
    CHECK(f.before_request_sent);
    CHECK_THAT(f.detail, Catch::StartsWith("timed out in the TLS handshake"));
}

TEST_CASE_METHOD(tls_fixture, "TLS: redirects to plain HTTP are not followed",
                 "[integration][net][tls]") {
    test_server server(ioc, ca.issue("DNS:localhost"));
    const std::string port = std::to_string(server.port());
    server.on_request([&](const received_request& req) {
        if (req.target == "/down")
            return reply{http_response(308, "", "Location: http://localhost:" + port + "/x\r\n")};
        return reply{http_response(308, "", "Location: https://localhost:" + port + "/ok\r\n")};
    });
    http_client client(ioc.get_executor(), options("localhost", server));
    const response got = must_answer(ioc, client, post("/down", "{}"));
    CHECK(got.status == 308);
    CHECK(server.requests().size() == 1);
}

TEST_CASE("configuration errors throw at construction", "[unit][net]") {
    asio::io_context ioc;
    CHECK_THROWS_WITH(http_client(ioc.get_executor(), options_for("ftp://x")),
                      Catch::Contains("server_url") && Catch::Contains("http://"));
    auto opts = options_for("https://localhost");
    opts.ca_file = "/nonexistent/ca.pem";
    CHECK_THROWS_WITH(http_client(ioc.get_executor(), opts), Catch::Contains("ca_file"));
}
