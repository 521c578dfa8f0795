// Opening and closing the HTTP client's connection: DNS with a timeout, TCP, TLS with
// certificate and host-name checks, and a polite TLS close.
#include "net/http_client_impl.hpp"

#include "config/spawn_logged.hpp"

namespace booklore::net {
namespace {

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

}  // namespace

asio::awaitable<void> run_resolve(std::shared_ptr<resolve_job> job, std::string host,
                                  std::string port) {
    auto [ec, results] = co_await job->resolver.async_resolve(host, port, use_tuple);
    job->ec = ec;
    job->results = std::move(results);
    job->done = true;
    job->wake.cancel();
}

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

}  // namespace booklore::net
