#pragma once

// The I/O shell around link_state: one rtnetlink socket on the io_context, the start-up dumps, a
// resync after lost messages, and a debounce. While nothing changes, nothing in here wakes up.

#include "net/link_state.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/generic/raw_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

namespace booklore::net {

/// Tuning of a netlink_monitor.
struct netlink_monitor_options {
    /// How long a new usable value must hold before it is reported; absorbs the flapping of a
    /// DHCP client setting an address, then the route.
    std::chrono::milliseconds debounce{300};
    /// SO_RCVBUF asked for; overflowing it costs a full resync. Tests shrink it to provoke that.
    int receive_buffer_bytes = 1 << 20;
};

/// Watches rtnetlink and reports debounced changes of "is the network usable" (link_state).
/// Single-threaded: use it from the thread running its executor.
class netlink_monitor {
public:
    /// Called once after the start-up dumps, then on each debounced change of the value.
    using change_handler = std::function<void(bool usable)>;

    netlink_monitor(boost::asio::any_io_executor executor, change_handler on_change,
                    netlink_monitor_options options = {});
    ~netlink_monitor();
    netlink_monitor(const netlink_monitor&) = delete;
    netlink_monitor& operator=(const netlink_monitor&) = delete;

    /// Opens and subscribes the socket, then dumps links, addresses and routes. On failure (no
    /// netlink, e.g. a sandbox) it logs once, returns the error and the state stays unknown: the
    /// handler is never called.
    boost::system::error_code start();

    /// Closes the socket and cancels the debounce; no handler runs afterwards. The object may
    /// be destroyed right after stop(), even with Asio handlers still queued.
    void stop();

    /// The socket is open and subscribed (start() succeeded and no fatal error since).
    bool available() const { return available_; }

    /// The last value given to the handler; nullopt while unknown (before the start-up dumps
    /// finish, or when netlink is unavailable).
    std::optional<bool> usable() const { return available_ ? reported_ : std::nullopt; }

    /// Why the monitor is unavailable (the error start() returned, or a later fatal one).
    boost::system::error_code failure() const { return failure_; }

    /// How many times the table was rebuilt after lost messages (ENOBUFS, truncation,
    /// interrupted dump).
    std::uint64_t resyncs() const { return resyncs_; }

    /// The decoded table, for status output and tests.
    const link_state& state() const { return state_; }

private:
    void fail(const char* what, boost::system::error_code ec);
    void wait_readable();
    void on_readable();
    void on_lost_messages(const char* why);
    void handle(const feed_result& result);
    void begin_resync();
    bool send_dump(dump_kind kind);
    void on_synced();
    void evaluate();
    void cancel_debounce();
    void report(bool usable);

    change_handler on_change_;
    netlink_monitor_options options_;
    boost::asio::generic::raw_protocol::socket socket_;
    boost::asio::steady_timer debounce_;
    link_state state_;
    std::vector<std::byte> buffer_;

    bool available_ = false;
    boost::system::error_code failure_;
    std::optional<bool> reported_;
    std::optional<dump_kind> dumping_;
    std::uint32_t dump_seq_ = 0;
    std::uint32_t next_seq_ = 1;
    bool resync_pending_ = false;
    bool debounce_pending_ = false;
    std::uint64_t debounce_generation_ = 0;
    std::uint64_t resyncs_ = 0;
    /// Handlers hold a weak_ptr to this, so a queued handler never touches a destroyed monitor.
    std::shared_ptr<char> alive_ = std::make_shared<char>();
};

}  // namespace booklore::net
