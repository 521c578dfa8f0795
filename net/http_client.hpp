#pragma once

#include "net/url.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/system/error_code.hpp>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace spdlog {
class logger;
}

namespace booklore::net {

/// How an http_client talks to the server; fixed for the client's lifetime.
struct client_options {
    /// The BookLore base URL (see parse_server_url).
    std::string server_url;
    /// Extra trusted CA certificates (PEM) for self-hosted servers, on top of the system store.
    std::optional<std::filesystem::path> ca_file;
    /// The limit for each phase on its own: resolve, connect, TLS handshake, write, read.
    std::chrono::milliseconds timeout{10000};
    /// Same-origin redirects followed per send() before giving up.
    int max_redirects = 5;
    /// Larger response bodies fail with errc::response_too_large.
    std::size_t max_response_body = 8 * 1024 * 1024;
    /// Where debug lines go; null means spdlog's default logger. Header values are never logged.
    std::shared_ptr<spdlog::logger> logger;
};

/// One request. The client adds Host, User-Agent (booklore-syncd/<version>),
/// Accept: application/json, and Content-Type: application/json when there is a body.
struct request {
    boost::beast::http::verb method = boost::beast::http::verb::get;
    /// Path (and query) relative to the base URL's path, starting with '/': "/api/v1/...".
    std::string target;
    /// Extra headers, e.g. credentials; they may replace the defaults above. Values are
    /// never logged; a name or value holding CR, LF or NUL is refused (errc::invalid_request).
    std::vector<std::pair<std::string, std::string>> headers;
    /// A JSON document; sent with Content-Type: application/json.
    std::optional<std::string> json_body;
};

/// A complete HTTP response, whatever its status.
struct response {
    unsigned status = 0;
    std::string content_type;
    std::string body;
    /// The Location header of a 3xx that was not followed (see http_client::send).
    std::string location;

    /// Content-Type is application/json (or application/...+json).
    bool is_json() const;
};

/// A request that got no complete response.
struct failure {
    /// An Asio/Beast/OpenSSL code (connection_refused, beast::error::timeout, ...) or an errc
    /// (certificate_untrusted, response_too_large, too_many_redirects, ...).
    boost::system::error_code code;
    /// For people: "connect 127.0.0.1:8443: Connection refused", "TLS handshake with
    /// host:443: certificate verify failed (certificate has expired)", "timed out waiting for
    /// the response". Never holds a header value.
    std::string detail;
    /// No byte of this request (nor of an earlier hop of its redirects) was sent: the server
    /// cannot have acted on it, and no credential left the device (e.g. TLS verify failure).
    bool before_request_sent = false;
};

using send_result = std::variant<response, failure>;

/// An HTTP/1.1 client for one server, plain or TLS, for one thread and one request at a time.
/// Keeps one connection alive between requests (close() at the end of a sync).
///
/// - TLS always verifies the certificate chain and the host name (IP addresses against IP
///   SANs) and sends SNI for host names. Verification cannot be switched off.
/// - Every phase is bounded by options.timeout; a timeout fails the request, never resends it.
/// - An idempotent request (not POST or PATCH) is sent again, once, on a new connection only
///   when a *reused* connection fails
///   while writing or closes/resets before any byte of the response: the usual race with a
///   server closing an idle keep-alive connection. A connection the server closed while idle
///   is noticed before sending and replaced.
/// - Redirects: 307/308 are followed with the same method and body, 301/302/303 only for
///   GET/HEAD (as GET/HEAD), up to max_redirects times (then errc::too_many_redirects). A
///   redirect to another scheme, host or port is never followed: the 3xx is returned, with
///   `location` set, because credentials travel in the headers.
class http_client {
public:
    /// Throws std::runtime_error for a bad server_url or an unreadable ca_file (configuration
    /// errors), with a message naming the key.
    http_client(boost::asio::any_io_executor executor, client_options options);
    ~http_client();
    http_client(http_client&&) noexcept;
    http_client& operator=(http_client&&) noexcept;

    /// Sends the request and reads the whole response. Never throws for I/O problems. The
    /// client must outlive the returned awaitable.
    boost::asio::awaitable<send_result> send(request req);

    /// Drops the kept-alive connection at once (no TLS close_notify). A send() in progress
    /// fails with operation_aborted.
    void close();

    /// Closes the kept-alive connection politely: TLS close_notify, bounded by the timeout;
    /// a peer that just drops the connection (stream_truncated) is fine.
    boost::asio::awaitable<void> shutdown();

    /// The parsed server URL.
    const server_url& server() const;

    /// Connections opened so far (TCP connected and, for TLS, handshake done).
    std::size_t connections_opened() const;

private:
    class impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace booklore::net
