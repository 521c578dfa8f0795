#include "http_test_server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <set>

namespace booklore::net::test {
namespace {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

/// Parses the head (start line and headers, without the blank line); false if malformed.
bool parse_head(std::string_view head, received_request& out) {
    const auto line_end = head.find("\r\n");
    std::string_view start = head.substr(0, line_end);
    const auto sp1 = start.find(' ');
    const auto sp2 = start.rfind(' ');
    if (sp1 == std::string_view::npos || sp1 == sp2 || start.substr(sp2 + 1) != "HTTP/1.1")
        return false;
    out.method = std::string(start.substr(0, sp1));
    out.target = std::string(start.substr(sp1 + 1, sp2 - sp1 - 1));
    std::string_view rest = line_end == std::string_view::npos ? "" : head.substr(line_end + 2);
    while (!rest.empty()) {
        const auto end = rest.find("\r\n");
        std::string_view line = rest.substr(0, end);
        rest = end == std::string_view::npos ? "" : rest.substr(end + 2);
        const auto colon = line.find(':');
        if (colon == std::string_view::npos)
            return false;
        out.headers.emplace_back(lower(std::string(line.substr(0, colon))),
                                 std::string(trim(line.substr(colon + 1))));
    }
    return true;
}

}  // namespace

struct test_server::state {
    explicit state(asio::io_context& io) : ioc(io), acceptor(io) {}
    asio::io_context& ioc;
    tcp::acceptor acceptor;
    std::optional<ssl::context> tls;
    std::function<reply(const received_request&)> handler = [](const received_request&) {
        return reply{http_response(200, R"({"ok":true})")};
    };
    bool silent = false;
    std::vector<received_request> requests;
    std::size_t bytes = 0;
    int connections = 0;
    int failed_handshakes = 0;
    std::uint16_t port = 0;
    std::set<tcp::socket*> open_sockets;
};

namespace {

using state_ptr = std::shared_ptr<test_server::state>;

/// Keeps a socket in the state's list while a connection coroutine uses it.
struct registration {
    registration(test_server::state& s, tcp::socket& sock) : st(s), socket(&sock) {
        st.open_sockets.insert(socket);
    }
    ~registration() { st.open_sockets.erase(socket); }
    test_server::state& st;
    tcp::socket* socket;
};

template <class Stream>
asio::awaitable<void> serve(state_ptr st, Stream& stream, tcp::socket& socket, int index) {
    std::string buffer;
    char chunk[4096];
    auto read_more = [&]() -> asio::awaitable<bool> {
        auto [ec, n] = co_await stream.async_read_some(asio::buffer(chunk), use_tuple);
        if (ec)
            co_return false;
        st->bytes += n;
        buffer.append(chunk, n);
        co_return true;
    };
    for (;;) {
        std::size_t head_end;
        while ((head_end = buffer.find("\r\n\r\n")) == std::string::npos) {
            if (!co_await read_more())
                co_return;
        }
        received_request req;
        req.connection = index;
        if (!parse_head(std::string_view(buffer).substr(0, head_end), req))
            co_return;
        buffer.erase(0, head_end + 4);
        std::size_t length = 0;
        if (auto value = req.header("content-length"))
            length = std::stoul(*value);
        while (buffer.size() < length) {
            if (!co_await read_more())
                co_return;
        }
        req.body = buffer.substr(0, length);
        buffer.erase(0, length);
        st->requests.push_back(req);

        const reply answer = st->handler(req);
        if (answer.hang) {
            while (co_await read_more()) {
            }
            co_return;
        }
        if (!answer.raw.empty()) {
            auto [ec, n] = co_await asio::async_write(stream, asio::buffer(answer.raw), use_tuple);
            if (ec)
                co_return;
        }
        if (answer.close) {
            boost::system::error_code ignored;
            socket.shutdown(tcp::socket::shutdown_both, ignored);
            socket.close(ignored);
            co_return;
        }
    }
}

asio::awaitable<void> handle(state_ptr st, tcp::socket socket, int index) {
    registration reg(*st, socket);
    if (st->silent) {
        char sink[1024];
        for (;;) {
            auto [ec, n] = co_await socket.async_read_some(asio::buffer(sink), use_tuple);
            if (ec)
                co_return;
        }
    }
    if (!st->tls) {
        co_await serve(st, socket, socket, index);
        co_return;
    }
    ssl::stream<tcp::socket&> stream(socket, *st->tls);
    auto [ec] = co_await stream.async_handshake(ssl::stream_base::server, use_tuple);
    if (ec) {
        ++st->failed_handshakes;
        co_return;
    }
    co_await serve(st, stream, socket, index);
}

asio::awaitable<void> accept_loop(state_ptr st) {
    for (;;) {
        auto [ec, socket] = co_await st->acceptor.async_accept(use_tuple);
        if (ec)
            co_return;
        asio::co_spawn(st->ioc, handle(st, std::move(socket), ++st->connections), asio::detached);
    }
}

}  // namespace

std::optional<std::string> received_request::header(std::string_view name) const {
    for (const auto& [key, value] : headers) {
        if (key == name)
            return value;
    }
    return std::nullopt;
}

std::string http_response(unsigned status, std::string_view body, std::string_view extra_headers,
                          std::string_view content_type) {
    std::string out = "HTTP/1.1 " + std::to_string(status) + " Test\r\n";
    if (!content_type.empty())
        out += "Content-Type: " + std::string(content_type) + "\r\n";
    out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    out += extra_headers;
    out += "\r\n";
    out += body;
    return out;
}

test_server::test_server(asio::io_context& ioc, std::optional<pem_identity> identity,
                         const std::string& address)
    : state_(std::make_shared<state>(ioc)) {
    if (identity) {
        state_->tls.emplace(ssl::context::tls_server);
        state_->tls->use_certificate_chain(asio::buffer(identity->certificate));
        state_->tls->use_private_key(asio::buffer(identity->private_key), ssl::context::pem);
    }
    const tcp::endpoint endpoint(asio::ip::make_address(address), 0);
    state_->acceptor.open(endpoint.protocol());
    state_->acceptor.set_option(tcp::acceptor::reuse_address(true));
    state_->acceptor.bind(endpoint);
    state_->acceptor.listen();
    state_->port = state_->acceptor.local_endpoint().port();
    asio::co_spawn(ioc, accept_loop(state_), asio::detached);
}

test_server::~test_server() {
    stop();
}

void test_server::stop() {
    boost::system::error_code ignored;
    state_->acceptor.close(ignored);
    for (tcp::socket* socket : state_->open_sockets)
        socket->close(ignored);
}

std::uint16_t test_server::port() const {
    return state_->port;
}

void test_server::on_request(std::function<reply(const received_request&)> handler) {
    state_->handler = std::move(handler);
}

void test_server::set_silent(bool silent) {
    state_->silent = silent;
}

const std::vector<received_request>& test_server::requests() const {
    return state_->requests;
}
std::size_t test_server::bytes_received() const {
    return state_->bytes;
}
int test_server::connections() const {
    return state_->connections;
}
int test_server::failed_handshakes() const {
    return state_->failed_handshakes;
}

}  // namespace booklore::net::test
