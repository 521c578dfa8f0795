#pragma once
// Private to net/: the HTTP client's connection and its implementation class, shared by
// http_client.cpp (requests and answers) and http_connect.cpp (DNS, TCP, TLS). These two are
// the only translation units of the project that include Beast and Asio's SSL stream.
#include "net/http_client.hpp"

#include "booklore/version.hpp"
#include "net/error.hpp"
#include "net/http_policy.hpp"
#include "net/tls_context.hpp"

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

namespace booklore::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;

inline constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
inline constexpr std::size_t max_header_bytes = 64 * 1024;
/// A polite TLS close waits at most this long for the server's close_notify.
inline constexpr std::chrono::milliseconds max_shutdown_wait{2000};

using wire_request = http::request<http::string_body>;
using wire_response = http::response<http::string_body>;
using tls_stream = beast::ssl_stream<beast::tcp_stream>;

inline std::string text(beast::string_view s) {
    return {s.data(), s.size()};
}

/// One connection to the server; exactly one of the two streams is set.
struct server_connection {
    std::unique_ptr<beast::tcp_stream> plain;
    std::unique_ptr<tls_stream> secure;
    beast::flat_buffer buffer;

    beast::tcp_stream& lowest() { return secure ? beast::get_lowest_layer(*secure) : *plain; }

    void close() {
        error_code ignored;
        lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
        lowest().close();
    }
};

/// A DNS lookup that can be abandoned: getaddrinfo cannot be interrupted, so on timeout the
/// caller stops waiting and the lookup finishes (and is dropped) on its own.
struct resolve_job {
    explicit resolve_job(const asio::any_io_executor& ex) : resolver(ex), wake(ex) {}
    tcp::resolver resolver;
    asio::steady_timer wake;
    bool done = false;
    error_code ec;
    tcp::resolver::results_type results;
};

/// Finishes a DNS lookup on its own, so that a timed-out caller can stop waiting for it.
asio::awaitable<void> run_resolve(std::shared_ptr<resolve_job> job, std::string host,
                                  std::string port);

class http_client::impl {
public:
    impl(asio::any_io_executor ex, client_options options)
        : ex_(std::move(ex)),
          options_(std::move(options)),
          url_(parse_url(options_.server_url)),
          tls_(make_client_tls_context(options_.ca_file, url_.tls)),
          log_(options_.logger ? options_.logger : spdlog::default_logger()),
          user_agent_(std::string("booklore-syncd/") + booklore::version) {}

    asio::awaitable<send_result> send(request req);

    void close() {
        if (auto conn = std::exchange(conn_, nullptr))
            conn->close();
    }

    asio::awaitable<void> shutdown() {
        if (conn_)
            co_await shutdown_connection(conn_);
    }

    const server_url& server() const { return url_; }
    std::size_t connections_opened() const { return connections_opened_; }

private:
    struct exchange_result {
        std::optional<wire_response> response;
        error_code ec;
        std::string detail;
        bool bytes_sent = false;
        /// Failed like a connection the server had already closed: one resend is safe.
        bool closed_before_response = false;
    };

    static server_url parse_url(const std::string& text) {
        auto url = parse_server_url(text);
        if (!url)
            throw std::runtime_error("server_url \"" + text + "\": " + url.error().message());
        return *url;
    }

    asio::awaitable<std::optional<failure>> resolve(std::vector<tcp::endpoint>& out);
    asio::awaitable<std::optional<failure>> open_connection();
    asio::awaitable<std::optional<failure>> handshake(server_connection& conn);
    template <class Stream>
    asio::awaitable<exchange_result> exchange(Stream& stream, server_connection& conn,
                                              const wire_request& req, bool head);
    asio::awaitable<std::variant<wire_response, failure>> round_trip(const wire_request& req,
                                                                     bool head, bool& sent);
    asio::awaitable<void> shutdown_connection(std::shared_ptr<server_connection> conn);
    wire_request build(http::verb method, const std::string& target, const request& req,
                       const std::optional<std::string>& body) const;

    asio::any_io_executor ex_;
    client_options options_;
    server_url url_;
    ssl::context tls_;
    std::shared_ptr<spdlog::logger> log_;
    std::string user_agent_;
    std::shared_ptr<server_connection> conn_;
    std::size_t connections_opened_ = 0;
    bool busy_ = false;
};

}  // namespace booklore::net
