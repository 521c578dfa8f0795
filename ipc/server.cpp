#include "ipc/server.hpp"

#include "config/spawn_logged.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <deque>
#include <list>
#include <system_error>

namespace booklore::ipc {
namespace asio = boost::asio;
using stream = asio::local::stream_protocol;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

namespace {

/// A subscriber that stops reading is dropped rather than buffered without end.
constexpr std::size_t max_queued_lines = 1024;
/// How long the input of a client that sent an overlong line is read and dropped.
constexpr auto drain_time = std::chrono::seconds(2);

std::optional<gid_t> group_id(const std::string& name) {
    std::vector<char> buf(16384);
    group g{};
    group* found = nullptr;
    if (getgrnam_r(name.c_str(), &g, buf.data(), buf.size(), &found) != 0 || !found)
        return std::nullopt;
    return found->gr_gid;
}

}  // namespace

/// One client: a read loop that answers requests in order, and a writer that owns the socket's
/// output so that replies and event lines never interleave.
class client_connection : public std::enable_shared_from_this<client_connection> {
public:
    client_connection(stream::socket socket, std::uint64_t id)
        : socket_(std::move(socket)),
          wake_writer_(socket_.get_executor()),
          idle_deadline_(socket_.get_executor()) {
        context_.id = id;
        wake_writer_.expires_at(asio::steady_timer::time_point::max());
    }

    void send(std::string line) {
        if (closed_)
            return;
        if (outgoing_.size() >= max_queued_lines) {
            spdlog::warn("ipc_client_dropped client={} reason=not_reading", context_.id);
            close();
            return;
        }
        outgoing_.push_back(std::move(line));
        wake_writer_.cancel();
    }

    void close() {
        if (closed_)
            return;
        closed_ = true;
        boost::system::error_code ignored;
        socket_.shutdown(stream::socket::shutdown_both, ignored);
        socket_.close(ignored);
        wake_writer_.cancel();
        idle_deadline_.cancel();
    }

    bool subscribed() const { return context_.subscribed && !closed_; }

    asio::awaitable<void> writer() {
        auto self = shared_from_this();
        while (!closed_) {
            if (outgoing_.empty()) {
                co_await wake_writer_.async_wait(use_tuple);
                continue;
            }
            auto [ec, n] =
                co_await asio::async_write(socket_, asio::buffer(outgoing_.front()), use_tuple);
            if (ec) {
                close();
                co_return;
            }
            outgoing_.pop_front();
            if (outgoing_.empty() && close_after_flush_)
                close();
            else if (outgoing_.empty() && end_output_after_flush_) {
                boost::system::error_code ignored;
                socket_.shutdown(stream::socket::shutdown_send, ignored);
            }
        }
    }

    asio::awaitable<void> watch_idle(std::chrono::milliseconds timeout) {
        auto self = shared_from_this();
        while (!closed_) {
            // A client waiting for an answer (a long sync_now) or for events is not idle.
            auto deadline = context_.subscribed || answering_
                                ? asio::steady_timer::time_point::max()
                                : last_activity_ + timeout;
            if (deadline <= asio::steady_timer::clock_type::now()) {
                spdlog::info("ipc_client_idle client={}", context_.id);
                close();
                co_return;
            }
            idle_deadline_.expires_at(deadline);
            co_await idle_deadline_.async_wait(use_tuple);
        }
    }

    asio::awaitable<void> reader(std::size_t max_line, request_handler handler) {
        auto self = shared_from_this();
        std::string buffer;
        while (!closed_) {
            auto [ec, length] = co_await asio::async_read_until(
                socket_, asio::dynamic_buffer(buffer, max_line), '\n', use_tuple);
            last_activity_ = asio::steady_timer::clock_type::now();
            if (ec == asio::error::not_found) {
                send(message::error(error_kind::too_large, "line longer than " +
                                                               std::to_string(max_line) +
                                                               " bytes; closing the connection")
                         .line());
                co_await drain_then_close();
                co_return;
            }
            if (ec) {
                if (!buffer.empty())
                    spdlog::info("ipc_partial_line_dropped client={} bytes={}", context_.id,
                                 buffer.size());
                close();
                co_return;
            }
            auto parsed = parse_request(std::string_view(buffer.data(), length - 1));
            buffer.erase(0, length);
            if (auto* error = std::get_if<message>(&parsed)) {
                send(error->line());
                continue;
            }
            send(co_await answer(handler, std::get<request>(parsed)));
        }
    }

    /// A handler that throws is a bug; the client still gets an answer and the daemon goes on.
    asio::awaitable<std::string> answer(request_handler& handler, const request& req) {
        answering_ = true;
        std::string line;
        try {
            line = (co_await handler(req, context_)).line();
        } catch (const std::exception& e) {
            spdlog::error("ipc_handler_failed type={} error=\"{}\"", req.type(), e.what());
            line =
                req.error(error_kind::unavailable, "internal error; see the daemon's log").line();
        }
        answering_ = false;
        last_activity_ = asio::steady_timer::clock_type::now();
        idle_deadline_.cancel();  // re-arm from now
        co_return line;
    }

    void finish_after_flush() {
        close_after_flush_ = true;
        if (outgoing_.empty())
            close();
    }

    /// Closing a socket with unread input resets the connection, and a reset can destroy the
    /// error reply before the client reads it: so the rest of the client's input is read and
    /// dropped for a short while first.
    asio::awaitable<void> drain_then_close() {
        end_output_after_flush_ = true;
        asio::steady_timer deadline(socket_.get_executor(), drain_time);
        deadline.async_wait([self = shared_from_this()](boost::system::error_code ec) {
            if (!ec)
                self->close();
        });
        std::array<char, 16384> scratch;
        for (;;) {
            auto [ec, n] = co_await socket_.async_read_some(asio::buffer(scratch), use_tuple);
            if (ec)
                break;
        }
        deadline.cancel();
        close();
    }

    client_context& context() { return context_; }

private:
    stream::socket socket_;
    asio::steady_timer wake_writer_;
    asio::steady_timer idle_deadline_;
    std::deque<std::string> outgoing_;
    client_context context_;
    asio::steady_timer::time_point last_activity_ = asio::steady_timer::clock_type::now();
    bool closed_ = false;
    bool close_after_flush_ = false;
    bool answering_ = false;
    bool end_output_after_flush_ = false;
};

class server::impl : public std::enable_shared_from_this<impl> {
public:
    impl(asio::any_io_executor executor, server_options options, request_handler handler)
        : executor_(executor),
          options_(std::move(options)),
          handler_(std::move(handler)),
          acceptor_(executor) {}

    void start() {
        const auto& path = options_.socket_path;
        refuse_live_socket(path);
        if (path.has_parent_path() && !std::filesystem::exists(path.parent_path())) {
            std::filesystem::create_directories(path.parent_path());
            std::filesystem::permissions(path.parent_path(), std::filesystem::perms::owner_all);
        }
        std::optional<gid_t> gid;
        if (options_.group) {
            gid = group_id(*options_.group);
            if (!gid)
                throw std::system_error(ENOENT, std::generic_category(),
                                        "socket group \"" + *options_.group + "\" does not exist");
        }
        // The socket is created with no permissions for others from its first moment.
        mode_t old_mask = ::umask(gid ? 0117 : 0177);
        boost::system::error_code ec;
        acceptor_.open(stream(), ec);
        if (!ec)
            acceptor_.bind(stream::endpoint(path.string()), ec);
        ::umask(old_mask);
        if (!ec && gid && ::chown(path.c_str(), static_cast<uid_t>(-1), *gid) != 0)
            ec.assign(errno, boost::system::system_category());
        if (!ec)
            acceptor_.listen(asio::socket_base::max_listen_connections, ec);
        if (ec)
            throw std::system_error(ec.value(), std::generic_category(),
                                    "cannot listen on " + path.string());
        allowed_gid_ = gid;
        spawn_logged(executor_, accept_loop(shared_from_this()), "ipc_accept");
    }

    void stop() {
        if (!acceptor_.is_open())
            return;
        boost::system::error_code ignored;
        acceptor_.close(ignored);
        std::filesystem::remove(options_.socket_path, ignored);
        for (auto& weak : connections_)
            if (auto c = weak.lock())
                c->close();
        connections_.clear();
    }

    void broadcast(const message& event) {
        std::string line = event.line();
        for (auto& weak : connections_)
            if (auto c = weak.lock(); c && c->subscribed())
                c->send(line);
    }

    std::size_t subscriber_count() {
        prune();
        std::size_t n = 0;
        for (auto& weak : connections_)
            if (auto c = weak.lock(); c && c->subscribed())
                ++n;
        return n;
    }

private:
    /// Another daemon answering on the path keeps it; a stale file from a crash is replaced.
    static void refuse_live_socket(const std::filesystem::path& path) {
        struct stat st {};
        if (::lstat(path.c_str(), &st) != 0)
            return;
        if (!S_ISSOCK(st.st_mode))
            throw std::system_error(EEXIST, std::generic_category(),
                                    path.string() + " exists and is not a socket");
        asio::io_context probe_context;
        stream::socket probe(probe_context);
        boost::system::error_code ec;
        probe.connect(stream::endpoint(path.string()), ec);
        if (!ec)
            throw std::system_error(EADDRINUSE, std::generic_category(),
                                    "another booklore-syncd is listening on " + path.string());
        std::filesystem::remove(path);
    }

    bool peer_allowed(stream::socket& socket) {
        ucred cred{};
        socklen_t len = sizeof cred;
        if (::getsockopt(socket.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
            return false;
        return cred.uid == 0 || cred.uid == ::geteuid() ||
               (allowed_gid_ && cred.gid == *allowed_gid_);
    }

    void prune() {
        connections_.remove_if(
            [](const std::weak_ptr<client_connection>& w) { return w.expired(); });
    }

    asio::awaitable<void> accept_loop(std::shared_ptr<impl> keep_alive) {
        (void)keep_alive;  // The loop holds the server state alive until it ends.
        while (acceptor_.is_open()) {
            auto [ec, socket] = co_await acceptor_.async_accept(use_tuple);
            if (ec) {
                if (ec == asio::error::operation_aborted || !acceptor_.is_open())
                    co_return;
                // EMFILE and friends: keep serving the clients we have.
                spdlog::warn("ipc_accept_failed error=\"{}\"", ec.message());
                asio::steady_timer pause(executor_, std::chrono::milliseconds(100));
                co_await pause.async_wait(use_tuple);
                continue;
            }
            if (!peer_allowed(socket)) {
                spdlog::warn("ipc_client_refused reason=peer_uid");
                continue;
            }
            prune();
            auto conn = std::make_shared<client_connection>(std::move(socket), ++next_id_);
            spawn_logged(executor_, conn->writer(), "ipc_writer", [conn] { conn->close(); });
            if (connections_.size() >= options_.max_connections) {
                conn->send(
                    message::error(error_kind::unavailable, "too many connections; try again later")
                        .line());
                conn->finish_after_flush();
                continue;
            }
            connections_.push_back(conn);
            spawn_logged(executor_, conn->watch_idle(options_.idle_timeout), "ipc_idle",
                         [conn] { conn->close(); });
            spawn_logged(executor_, conn->reader(options_.max_line, handler_), "ipc_reader",
                         [conn] { conn->close(); });
        }
    }

    asio::any_io_executor executor_;
    server_options options_;
    request_handler handler_;
    stream::acceptor acceptor_;
    std::list<std::weak_ptr<client_connection>> connections_;
    std::optional<gid_t> allowed_gid_;
    std::uint64_t next_id_ = 0;
};

server::server(asio::any_io_executor executor, server_options options, request_handler handler)
    : impl_(std::make_shared<impl>(executor, std::move(options), std::move(handler))) {}

server::~server() {
    impl_->stop();
}

void server::start() {
    impl_->start();
}
void server::stop() {
    impl_->stop();
}
void server::broadcast(const message& event) {
    impl_->broadcast(event);
}
std::size_t server::subscriber_count() const {
    return impl_->subscriber_count();
}

}  // namespace booklore::ipc
