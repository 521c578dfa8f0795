#pragma once
// What the request handlers need from the rest of the daemon (the triggers, the sync), as an
// interface: requests/ and sync/ never include each other, and the app ties them together.

#include "daemon/network_state.hpp"
#include "ipc/reply.hpp"
#include "ipc/request.hpp"

#include <boost/asio/awaitable.hpp>

#include <optional>

namespace booklore::syncd {

class daemon_hooks {
public:
    virtual ~daemon_hooks() = default;

    /// True once shutdown began: new requests are answered `unavailable`.
    virtual bool stopping() const = 0;
    /// A session was queued (not a duplicate): an automatic trigger.
    virtual void session_queued() = 0;
    /// `sync_now`: the whole reply, after the sync when `wait`.
    virtual boost::asio::awaitable<ipc::message> sync_now(const ipc::request& req, bool wait) = 0;
    /// `check_server`: the whole reply, after trying the server (never while the network is
    /// down).
    virtual boost::asio::awaitable<ipc::message> check_server(const ipc::request& req) = 0;
    /// Adds `network`, `sync`, `waiting_for_network`, `next_sync_in_seconds` and `last_sync`.
    virtual void describe_sync(ipc::message& status) = 0;
    /// The reader says the device woke up: the delay of the sync it arms, if it armed one.
    virtual std::optional<double> device_resumed() = 0;
    /// The reader says the device goes to sleep.
    virtual void device_suspended() = 0;
    /// The reader's `network_up` / `network_down`; answers the state now in force.
    virtual network_state reader_network(network_state state) = 0;
    /// Sends an event line (e.g. `import_progress`) to the subscribers.
    virtual void announce(const ipc::message& event) = 0;
};

}  // namespace booklore::syncd
