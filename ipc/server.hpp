#pragma once

#include "ipc/reply.hpp"
#include "ipc/request.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace booklore::ipc {

struct server_options {
    std::filesystem::path socket_path;
    /// When set, members of this group may connect too (socket mode 0660 instead of 0600).
    std::optional<std::string> group;
    std::size_t max_connections = 32;
    /// A client that sends nothing for this long is disconnected (subscribers are exempt).
    std::chrono::milliseconds idle_timeout{std::chrono::minutes(5)};
    /// The longest line, newline included.
    std::size_t max_line = 65536;
};

/// What the request handler may learn about and change on the client that sent a request.
struct client_context {
    std::uint64_t id = 0;
    bool subscribed = false;
};

/// Handles one request; the reply is sent when the returned awaitable completes, so a handler
/// that changes state completes only after the change is committed.
using request_handler =
    std::function<boost::asio::awaitable<message>(const request&, client_context&)>;

/// The Unix stream socket server of the line protocol. Runs on one executor; not thread-safe.
class server {
public:
    server(boost::asio::any_io_executor executor, server_options options, request_handler handler);
    ~server();
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    /// Creates the socket file (refusing to take over one that a live daemon answers on) and
    /// starts accepting. Throws std::system_error when the socket cannot be created.
    void start();
    /// Closes the listening socket and every connection; removes the socket file.
    void stop();
    /// Sends an event line to every subscribed client.
    void broadcast(const message& event);
    std::size_t subscriber_count() const;

private:
    class impl;
    std::shared_ptr<impl> impl_;
};

}  // namespace booklore::ipc
