// The only translation unit of the project that includes Beast and Asio's SSL stream.
#include "net/http_client.hpp"

#include "config/spawn_logged.hpp"

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
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t max_header_bytes = 64 * 1024;
/// A polite TLS close waits at most this long for the server's close_notify.
constexpr std::chrono::milliseconds max_shutdown_wait{2000};

using wire_request = http::request<http::string_body>;
using wire_response = http::response<http::string_body>;
using tls_stream = beast::ssl_stream<beast::tcp_stream>;

std::string text(beast::string_view s) {
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

asio::awaitable<void> run_resolve(std::shared_ptr<resolve_job> job, std::string host,
                                  std::string port) {
    auto [ec, results] = co_await job->resolver.async_resolve(host, port, use_tuple);
    job->ec = ec;
    job->results = std::move(results);
    job->done = true;
    job->wake.cancel();
}

/// The connection died the way an idle keep-alive connection the server closed dies.
bool is_closed_by_peer(const error_code& ec) {
    return ec == http::error::end_of_stream || ec == asio::error::eof ||
           ec == asio::error::connection_reset || ec == asio::error::connection_aborted ||
           ec == asio::error::broken_pipe || ec == ssl::error::stream_truncated;
}

/// An idle connection is reusable only if nothing arrived on it: no EOF, no reset, no stray
/// bytes (a TLS close_notify counts as bytes).
bool idle_connection_usable(server_connection& conn) {
    if (conn.buffer.size() != 0 || !conn.lowest().socket().is_open())
        return false;
    pollfd p{conn.lowest().socket().native_handle(), POLLIN, 0};
    return ::poll(&p, 1, 0) == 0;
}

errc verify_errc(long verify_result) {
    switch (verify_result) {
        case X509_V_ERR_CERT_HAS_EXPIRED:
            return errc::certificate_expired;
        case X509_V_ERR_CERT_NOT_YET_VALID:
            return errc::certificate_not_yet_valid;
        case X509_V_ERR_HOSTNAME_MISMATCH:
        case X509_V_ERR_IP_ADDRESS_MISMATCH:
            return errc::certificate_name_mismatch;
        default:
            return errc::certificate_untrusted;
    }
}

/// Refuses what would corrupt the request on the wire (header injection through CR/LF).
std::optional<std::string> check_request(const request& req) {
    if (req.target.empty() || req.target.front() != '/')
        return "the request target must start with '/'";
    for (char c : req.target) {
        if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == '#')
            return "the request target contains a space, control character or '#'";
    }
    for (const auto& [name, value] : req.headers) {
        if (name.empty() ||
            name.find_first_of(std::string_view(" \t\r\n:\0", 6)) != std::string::npos)
            return "a header name is empty or contains a space, ':' or control character";
        if (value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos)
            return "header " + name + " has a line break or NUL in its value";
    }
    return std::nullopt;
}

}  // namespace

bool response::is_json() const {
    return is_json_media_type(content_type);
}

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

asio::awaitable<std::optional<failure>> http_client::impl::resolve(
    std::vector<tcp::endpoint>& out) {
    error_code ec;
    const auto address = asio::ip::make_address(url_.host, ec);
    if (!ec) {
        out.emplace_back(address, url_.port);
        co_return std::nullopt;
    }
    auto job = std::make_shared<resolve_job>(ex_);
    job->wake.expires_after(options_.timeout);
    spawn_logged(ex_, run_resolve(job, url_.host, std::to_string(url_.port)), "http_resolve",
                 [job] {
                     // The lookup failed without an answer: the waiting request sees an error.
                     job->ec = asio::error::host_not_found;
                     job->done = true;
                     job->wake.cancel();
                 });
    if (!job->done)
        co_await job->wake.async_wait(use_tuple);
    if (!job->done) {
        job->resolver.cancel();
        co_return failure{beast::error::timeout, "timed out resolving " + url_.host, true};
    }
    if (job->ec)
        co_return failure{job->ec, "resolve " + url_.host + ": " + job->ec.message(), true};
    for (const auto& entry : job->results)
        out.push_back(entry.endpoint());
    co_return std::nullopt;
}

asio::awaitable<std::optional<failure>> http_client::impl::open_connection() {
    std::vector<tcp::endpoint> endpoints;
    if (auto problem = co_await resolve(endpoints))
        co_return problem;

    auto conn = std::make_shared<server_connection>();
    if (url_.tls)
        conn->secure = std::make_unique<tls_stream>(ex_, tls_);
    else
        conn->plain = std::make_unique<beast::tcp_stream>(ex_);
    conn_ = conn;  // from here on close() can abort the connect and the handshake

    log_->debug("http_connect server={} tls={}", url_.authority(), url_.tls);
    conn->lowest().expires_after(options_.timeout);
    auto [ec, endpoint] = co_await conn->lowest().async_connect(endpoints, use_tuple);
    if (ec) {
        if (conn_ == conn)
            conn_.reset();
        co_return failure{ec,
                          ec == beast::error::timeout
                              ? "timed out connecting to " + url_.authority()
                              : "connect " + url_.authority() + ": " + ec.message(),
                          true};
    }
    error_code ignored;
    conn->lowest().socket().set_option(tcp::no_delay(true), ignored);
    if (conn->secure) {
        if (auto problem = co_await handshake(*conn)) {
            if (conn_ == conn)
                conn_.reset();
            conn->close();
            co_return problem;
        }
    }
    conn->lowest().expires_never();
    if (conn_ != conn)  // close() ran meanwhile
        co_return failure{asio::error::operation_aborted, "the connection was closed", true};
    ++connections_opened_;
    co_return std::nullopt;
}

asio::awaitable<std::optional<failure>> http_client::impl::handshake(server_connection& conn) {
    SSL* ssl_handle = conn.secure->native_handle();
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl_handle);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    const bool ip = is_ip_literal(url_.host);
    // The expected name is part of the chain verification itself, so a mismatch fails the
    // handshake before any request byte is written.
    const int name_set = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, url_.host.c_str())
                            : X509_VERIFY_PARAM_set1_host(param, url_.host.c_str(), 0);
    if (name_set != 1 || (!ip && SSL_set_tlsext_host_name(ssl_handle, url_.host.c_str()) != 1))
        co_return failure{errc::certificate_name_mismatch,
                          "TLS: cannot verify the host name " + url_.host, true};

    conn.lowest().expires_after(options_.timeout);
    auto [ec] = co_await conn.secure->async_handshake(ssl::stream_base::client, use_tuple);
    if (!ec)
        co_return std::nullopt;
    const std::string where = "TLS handshake with " + url_.authority();
    if (ec == beast::error::timeout)
        co_return failure{ec, "timed out in the " + where, true};
    const long verify = SSL_get_verify_result(ssl_handle);
    if (verify != X509_V_OK)
        co_return failure{
            verify_errc(verify),
            where + ": certificate verify failed (" + X509_verify_cert_error_string(verify) + ")",
            true};
    co_return failure{ec, where + ": " + ec.message(), true};
}

template <class Stream>
asio::awaitable<http_client::impl::exchange_result> http_client::impl::exchange(
    Stream& stream, server_connection& conn, const wire_request& req, bool head) {
    exchange_result out;
    conn.lowest().expires_after(options_.timeout);
    auto [write_ec, written] = co_await http::async_write(stream, req, use_tuple);
    out.bytes_sent = written > 0;
    if (write_ec) {
        out.ec = write_ec;
        out.detail = write_ec == beast::error::timeout
                         ? "timed out sending the request"
                         : "sending the request: " + write_ec.message();
        out.closed_before_response =
            write_ec != beast::error::timeout && write_ec != asio::error::operation_aborted;
        co_return out;
    }
    for (;;) {
        http::response_parser<http::string_body> parser;
        parser.header_limit(max_header_bytes);
        parser.body_limit(options_.max_response_body);
        parser.skip(head);
        const bool nothing_buffered = conn.buffer.size() == 0;
        conn.lowest().expires_after(options_.timeout);
        auto [read_ec, read] = co_await http::async_read(stream, conn.buffer, parser, use_tuple);
        conn.lowest().expires_never();
        if (!read_ec) {
            // 1xx answers (100 Continue, 103 Early Hints) precede the real one.
            if (parser.get().result_int() / 100 == 1 && parser.get().result_int() != 101)
                continue;
            out.response = parser.release();
            co_return out;
        }
        out.ec = read_ec;
        if (read_ec == beast::error::timeout) {
            out.detail = "timed out waiting for the response";
        } else if (read_ec == http::error::body_limit) {
            out.ec = errc::response_too_large;
            out.detail = "the response body is larger than " +
                         std::to_string(options_.max_response_body) + " bytes";
        } else if (read_ec == http::error::end_of_stream) {
            out.detail = "the server closed the connection without answering";
        } else if (read_ec == http::error::partial_message) {
            out.detail = "the server closed the connection in the middle of the response";
        } else {
            out.detail = "reading the response: " + read_ec.message();
        }
        out.closed_before_response = nothing_buffered && !parser.got_some() &&
                                     conn.buffer.size() == 0 && is_closed_by_peer(read_ec);
        co_return out;
    }
}

asio::awaitable<std::variant<wire_response, failure>> http_client::impl::round_trip(
    const wire_request& req, bool head, bool& sent) {
    for (bool resent = false;;) {
        if (conn_ && !idle_connection_usable(*conn_)) {
            log_->debug("http_connection_stale server={}", url_.authority());
            close();
        }
        const bool reused = conn_ != nullptr;
        if (!conn_) {
            if (auto problem = co_await open_connection()) {
                problem->before_request_sent = !sent;
                co_return std::move(*problem);
            }
        }
        const std::shared_ptr<server_connection> conn = conn_;
        exchange_result result;
        if (conn->secure)
            result = co_await exchange(*conn->secure, *conn, req, head);
        else
            result = co_await exchange(*conn->plain, *conn, req, head);
        sent = sent || result.bytes_sent;

        if (result.response) {
            if (!result.response->keep_alive())
                co_await shutdown_connection(conn);
            co_return std::move(*result.response);
        }
        if (conn_ == conn)
            conn_.reset();
        conn->close();
        // Only idempotent methods go again (RFC 9110 §9.2.2): a POST the server stored before
        // it dropped the connection would be stored twice.
        const bool idempotent =
            req.method() != http::verb::post && req.method() != http::verb::patch;
        if (reused && result.closed_before_response && !resent && idempotent) {
            log_->debug("http_resend reason=stale_connection server={}", url_.authority());
            resent = true;
            continue;
        }
        co_return failure{result.ec, std::move(result.detail), !sent};
    }
}

asio::awaitable<void> http_client::impl::shutdown_connection(
    std::shared_ptr<server_connection> conn) {
    if (conn_ == conn)
        conn_.reset();
    if (conn->secure) {
        conn->lowest().expires_after(std::min(options_.timeout, max_shutdown_wait));
        auto [ec] = co_await conn->secure->async_shutdown(use_tuple);
        // A server that just drops the connection (stream_truncated, EOF) is the common case.
        if (ec && ec != ssl::error::stream_truncated && ec != asio::error::eof)
            log_->debug("http_tls_shutdown server={} error={:?}", url_.authority(), ec.message());
    }
    conn->close();
}

wire_request http_client::impl::build(http::verb method, const std::string& target,
                                      const request& req,
                                      const std::optional<std::string>& body) const {
    wire_request wire{method, target, 11};
    wire.set(http::field::host, url_.host_header());
    wire.set(http::field::user_agent, user_agent_);
    wire.set(http::field::accept, "application/json");
    if (body) {
        wire.set(http::field::content_type, "application/json");
        wire.body() = *body;
    }
    for (const auto& [name, value] : req.headers)
        wire.set(name, value);
    wire.prepare_payload();
    return wire;
}

asio::awaitable<send_result> http_client::impl::send(request req) {
    if (busy_)
        co_return failure{errc::request_in_progress, "another request is still running", true};
    if (auto problem = check_request(req))
        co_return failure{errc::invalid_request, std::move(*problem), true};
    busy_ = true;
    struct busy_guard {
        bool& flag;
        ~busy_guard() { flag = false; }
    } guard{busy_};

    http::verb method = req.method;
    std::string target = url_.base_path + req.target;
    std::optional<std::string> body = std::move(req.json_body);
    bool sent = false;
    for (int redirects = 0;; ++redirects) {
        const auto started = std::chrono::steady_clock::now();
        if (redirects == 0)
            log_->debug("http_request method={} target={:?}", text(http::to_string(method)),
                        target);
        else
            log_->debug("http_request method={} redirect={}", text(http::to_string(method)),
                        redirects);
        const wire_request wire = build(method, target, req, body);
        auto outcome = co_await round_trip(wire, method == http::verb::head, sent);
        if (auto* problem = std::get_if<failure>(&outcome)) {
            log_->debug("http_failed code={}:{} detail={:?} sent={}",
                        problem->code.category().name(), problem->code.value(), problem->detail,
                        !problem->before_request_sent);
            co_return std::move(*problem);
        }
        auto& message = std::get<wire_response>(outcome);
        const unsigned status = message.result_int();
        log_->debug("http_response status={} bytes={} ms={}", status, message.body().size(),
                    std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - started)
                        .count());

        response answer;
        answer.status = status;
        answer.content_type = text(message[http::field::content_type]);
        if (status / 100 == 3)
            answer.location = text(message[http::field::location]);
        answer.body = std::move(message.body());

        const auto action = redirect_rule(method, status);
        if (action == redirect_action::return_response || answer.location.empty())
            co_return answer;
        auto where = resolve_redirect(url_, target, answer.location);
        if (!where || !where->same_origin_as(url_)) {
            // The Location value itself is not logged: it is a header value.
            log_->warn("http_redirect_not_followed status={} reason={}", status,
                       where ? "other_origin" : "bad_location");
            co_return answer;
        }
        if (redirects >= options_.max_redirects)
            co_return failure{
                errc::too_many_redirects,
                "gave up after " + std::to_string(options_.max_redirects) + " redirects", false};
        if (action == redirect_action::follow_as_get) {
            if (method != http::verb::head)
                method = http::verb::get;
            body.reset();
        }
        target = std::move(where->target);
    }
}

http_client::http_client(asio::any_io_executor executor, client_options options)
    : impl_(std::make_unique<impl>(std::move(executor), std::move(options))) {}
http_client::~http_client() = default;
http_client::http_client(http_client&&) noexcept = default;
http_client& http_client::operator=(http_client&&) noexcept = default;

asio::awaitable<send_result> http_client::send(request req) {
    return impl_->send(std::move(req));
}

void http_client::close() {
    impl_->close();
}

asio::awaitable<void> http_client::shutdown() {
    return impl_->shutdown();
}

const server_url& http_client::server() const {
    return impl_->server();
}

std::size_t http_client::connections_opened() const {
    return impl_->connections_opened();
}

}  // namespace booklore::net
