// Requests and answers of the HTTP client: building the request, one exchange, the retry of
// an idempotent request on a connection the server had closed, and what the answer means.
#include "net/http_client_impl.hpp"

namespace booklore::net {
namespace {

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
