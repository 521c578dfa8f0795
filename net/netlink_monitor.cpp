#include "net/netlink_monitor.hpp"

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace booklore::net {

namespace asio = boost::asio;

namespace {

// Kernel dump parts are at most 32 KiB when the reader offers that much, so nothing is truncated.
constexpr std::size_t buffer_bytes = 32 * 1024;
// Datagrams handled per wake-up before going back to the reactor, so a storm cannot starve the
// other actors on the loop.
constexpr int datagrams_per_wakeup = 64;

const char* to_string(dump_kind kind) {
    switch (kind) {
        case dump_kind::links:
            return "links";
        case dump_kind::addresses:
            return "addresses";
        case dump_kind::routes:
            break;
    }
    return "routes";
}

boost::system::error_code last_error() {
    return {errno, boost::system::system_category()};
}

}  // namespace

netlink_monitor::netlink_monitor(asio::any_io_executor executor, change_handler on_change,
                                 netlink_monitor_options options)
    : on_change_(std::move(on_change)),
      options_(options),
      socket_(executor),
      debounce_(executor),
      buffer_(buffer_bytes) {}

netlink_monitor::~netlink_monitor() {
    stop();
}

boost::system::error_code netlink_monitor::start() {
    if (available_) {
        return {};
    }
    // Our own fd with CLOEXEC, so helpers the daemon spawns do not inherit the subscription.
    const int fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
    if (fd < 0) {
        const auto ec = last_error();
        fail("socket", ec);
        return ec;
    }
    // FORCE lifts the rmem_max cap but needs CAP_NET_ADMIN; the plain option is the fallback.
    const int wanted = options_.receive_buffer_bytes;
    if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &wanted, sizeof wanted) != 0) {
        ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &wanted, sizeof wanted);
    }
    // Subscribe before dumping, so nothing falls between the snapshot and the first event.
    sockaddr_nl local{};
    local.nl_family = AF_NETLINK;
    local.nl_groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR | RTMGRP_IPV4_ROUTE |
                      RTMGRP_IPV6_ROUTE;  // nl_pid 0: the kernel picks a unique port id
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&local), sizeof local) != 0) {
        const auto ec = last_error();
        ::close(fd);
        fail("bind", ec);
        return ec;
    }
    boost::system::error_code ec;
    socket_.assign(asio::generic::raw_protocol(AF_NETLINK, NETLINK_ROUTE), fd, ec);
    if (ec) {
        ::close(fd);
        fail("assign", ec);
        return ec;
    }
    available_ = true;
    failure_.clear();
    reported_.reset();
    resync_pending_ = false;
    state_.clear();
    if (!send_dump(dump_kind::links)) {
        return failure_;
    }
    wait_readable();
    return {};
}

void netlink_monitor::stop() {
    available_ = false;
    dumping_.reset();
    cancel_debounce();
    boost::system::error_code ignored;
    socket_.close(ignored);
}

void netlink_monitor::fail(const char* what, boost::system::error_code ec) {
    // Reported once: after this the monitor stays closed until start() is called again.
    spdlog::warn("netlink_unavailable step={} error=\"{}\" network=unknown", what, ec.message());
    stop();
    failure_ = ec;
}

void netlink_monitor::wait_readable() {
    socket_.async_wait(asio::socket_base::wait_read, [this, alive = std::weak_ptr<char>(alive_)](
                                                         boost::system::error_code ec) {
        if (alive.expired() || ec == asio::error::operation_aborted || !available_) {
            return;
        }
        if (ec == asio::error::no_buffer_space) {
            on_lost_messages("enobufs");
        } else if (ec) {
            fail("wait", ec);
            return;
        }
        on_readable();
    });
}

void netlink_monitor::on_readable() {
    for (int i = 0; i < datagrams_per_wakeup && available_; ++i) {
        sockaddr_nl from{};
        iovec iov{buffer_.data(), buffer_.size()};
        msghdr msg{};
        msg.msg_name = &from;
        msg.msg_namelen = sizeof from;
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        const ssize_t n = ::recvmsg(socket_.native_handle(), &msg, MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                break;
            }
            if (errno == EINTR) {
                continue;
            }
            if (errno == ENOBUFS) {  // the kernel dropped events: the table may be stale
                on_lost_messages("enobufs");
                continue;
            }
            fail("recvmsg", last_error());
            return;
        }
        if (msg.msg_flags & MSG_TRUNC) {
            on_lost_messages("truncated");
            continue;
        }
        const std::uint32_t sender = msg.msg_namelen >= sizeof from ? from.nl_pid : ~0u;
        const auto result =
            state_.feed(std::span(buffer_.data(), static_cast<std::size_t>(n)), sender);
        if (!result.accepted) {
            spdlog::debug("netlink_foreign_message sender_pid={}", sender);
            continue;
        }
        if (result.malformed > 0) {
            spdlog::debug("netlink_malformed_messages count={}", result.malformed);
        }
        handle(result);
    }
    if (available_) {
        wait_readable();
    }
}

void netlink_monitor::on_lost_messages(const char* why) {
    spdlog::warn("netlink_resync reason={}", why);
    if (dumping_) {
        resync_pending_ = true;  // one dump at a time: restart when the current one ends
        return;
    }
    begin_resync();
}

void netlink_monitor::handle(const feed_result& result) {
    if (!dumping_) {
        if (result.changed) {
            evaluate();
        }
        return;
    }
    resync_pending_ |= result.dump_interrupted;
    if (result.done_seq != dump_seq_) {
        return;
    }
    if (result.error != 0) {
        spdlog::warn(
            "netlink_dump_failed kind={} error=\"{}\"", to_string(*dumping_),
            boost::system::error_code(result.error, boost::system::system_category()).message());
    }
    if (resync_pending_) {
        begin_resync();
        return;
    }
    switch (*dumping_) {
        case dump_kind::links:
            send_dump(dump_kind::addresses);
            break;
        case dump_kind::addresses:
            send_dump(dump_kind::routes);
            break;
        case dump_kind::routes:
            dumping_.reset();
            on_synced();
            break;
    }
}

void netlink_monitor::begin_resync() {
    ++resyncs_;
    resync_pending_ = false;
    cancel_debounce();  // re-evaluated once the new snapshot is complete
    state_.clear();
    send_dump(dump_kind::links);
}

bool netlink_monitor::send_dump(dump_kind kind) {
    dumping_ = kind;
    dump_seq_ = next_seq_++;
    const auto request = make_dump_request(kind, dump_seq_);
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    const ssize_t sent = ::sendto(socket_.native_handle(), request.data(), request.size(), 0,
                                  reinterpret_cast<const sockaddr*>(&kernel), sizeof kernel);
    if (sent != static_cast<ssize_t>(request.size())) {
        fail("dump_request", last_error());
        return false;
    }
    return true;
}

void netlink_monitor::on_synced() {
    spdlog::debug("netlink_synced links={} addresses={} default_routes={}", state_.link_count(),
                  state_.address_count(), state_.default_route_count());
    if (!reported_) {
        report(state_.usable());  // the start-up value is reported at once
    } else {
        evaluate();
    }
}

void netlink_monitor::evaluate() {
    if (state_.usable() == reported_) {
        cancel_debounce();  // flapped back before the debounce ran out
        return;
    }
    if (debounce_pending_) {
        return;  // the same flip is already waiting to prove stable
    }
    debounce_pending_ = true;
    const auto generation = ++debounce_generation_;
    debounce_.expires_after(options_.debounce);
    debounce_.async_wait(
        [this, generation, alive = std::weak_ptr<char>(alive_)](boost::system::error_code ec) {
            if (alive.expired() || ec || generation != debounce_generation_ || !available_) {
                return;
            }
            debounce_pending_ = false;
            if (const bool now = state_.usable(); now != reported_) {
                report(now);
            }
        });
}

void netlink_monitor::cancel_debounce() {
    if (debounce_pending_) {
        debounce_pending_ = false;
        ++debounce_generation_;  // a completion already queued must not report
        debounce_.cancel();
    }
}

void netlink_monitor::report(bool usable) {
    reported_ = usable;
    spdlog::info("network_usable usable={} interface={}", usable ? 1 : 0,
                 usable ? state_.usable_interface() : std::string("-"));
    if (on_change_) {
        on_change_(usable);
    }
}

}  // namespace booklore::net
