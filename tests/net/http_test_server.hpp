#pragma once

#include "test_certificates.hpp"

#include <boost/asio/io_context.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace booklore::net::test {

/// A request as the test server saw it.
struct received_request {
    std::string method;
    std::string target;
    /// Header names in lower case, in order.
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    /// 1 for the first connection the server accepted, 2 for the second, ...
    int connection = 0;

    /// The value of the first header with this (lower-case) name, or nullopt.
    std::optional<std::string> header(std::string_view name) const;
};

/// What the server does with a request.
struct reply {
    /// Bytes written back as they are (may be empty, or a deliberately broken response).
    std::string raw;
    /// Close the connection after writing `raw`.
    bool close = false;
    /// Write nothing and keep the connection open until the client goes away.
    bool hang = false;
};

/// A complete HTTP/1.1 response with Content-Length; `extra_headers` lines end in "\r\n".
std::string http_response(unsigned status, std::string_view body = "",
                          std::string_view extra_headers = "",
                          std::string_view content_type = "application/json");

/// An HTTP/1.1 server on loopback for the client tests, running on the test's io_context.
/// It parses requests itself (no Beast), so the client is not checked against its own parser.
class test_server {
public:
    /// Listens on `address`:0; speaks TLS with `identity` when given.
    explicit test_server(boost::asio::io_context& ioc,
                         std::optional<pem_identity> identity = std::nullopt,
                         const std::string& address = "127.0.0.1");
    ~test_server();
    test_server(const test_server&) = delete;
    test_server& operator=(const test_server&) = delete;

    std::uint16_t port() const;
    /// Answers every request; the default answers 200 {"ok":true}.
    void on_request(std::function<reply(const received_request&)> handler);
    /// Accept connections but never read, write or handshake on them.
    void set_silent(bool silent);
    /// Closes the listener and every connection.
    void stop();

    const std::vector<received_request>& requests() const;
    /// Application bytes read from clients (after TLS decryption), requests or not.
    std::size_t bytes_received() const;
    int connections() const;
    int failed_handshakes() const;

    /// Shared with the connection coroutines, which may outlive the server object.
    struct state;

private:
    std::shared_ptr<state> state_;
};

}  // namespace booklore::net::test
