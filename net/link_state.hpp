#pragma once

// Sans-io rtnetlink decoder: raw message bytes in, "is the network usable?" out. No sockets here,
// so every rule below is unit-tested with hand-built messages (see platform.md §2).

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <tuple>
#include <vector>

namespace booklore::net {

/// What one datagram did to the table, and what the monitor must know about its dump.
struct feed_result {
    /// False when the datagram was dropped as a whole (sender not the kernel).
    bool accepted = false;
    /// The table changed (a link, address or default route was added, changed or removed).
    bool changed = false;
    /// Sequence number of a request that ended here (NLMSG_DONE, or NLMSG_ERROR for it).
    std::optional<std::uint32_t> done_seq;
    /// Positive errno from an NLMSG_ERROR that ended `done_seq`; 0 for NLMSG_DONE.
    int error = 0;
    /// A dump part carried NLM_F_DUMP_INTR: the dump is inconsistent and must be redone.
    bool dump_interrupted = false;
    /// Messages skipped because they were truncated or too short for their type.
    std::size_t malformed = 0;
};

/// The three dumps that (re)build the table, in the order they must run.
enum class dump_kind { links, addresses, routes };

/// A complete RTM_GET{LINK,ADDR,ROUTE} NLM_F_DUMP request for both IPv4 and IPv6.
std::vector<std::byte> make_dump_request(dump_kind kind, std::uint32_t seq);

/// The kernel's view of links, addresses and default routes, fed with raw rtnetlink datagrams.
class link_state {
public:
    /// Applies every message of one datagram. `sender_pid` is sockaddr_nl.nl_pid of the sender:
    /// anything not from the kernel (0) is ignored, since any local process may unicast to us.
    feed_result feed(std::span<const std::byte> datagram, std::uint32_t sender_pid);

    /// Some non-loopback link is up and running, has a global non-tentative address, and a
    /// default route of the same family leaves through it (or names no interface).
    bool usable() const;

    /// Name of a link that makes the network usable (for logs); empty when not usable.
    std::string usable_interface() const;

    /// Forgets everything; the monitor calls it before re-dumping after lost messages.
    void clear();

    std::size_t link_count() const { return links_.size(); }
    std::size_t address_count() const { return addresses_.size(); }
    std::size_t default_route_count() const { return routes_.size(); }

private:
    struct link {
        std::uint32_t flags = 0;
        std::optional<std::uint8_t> operstate;
        bool loopback = false;
        std::string name;
    };
    // Identity of an address: (ifindex, family, prefix length, address bytes).
    using address_key = std::tuple<int, std::uint8_t, std::uint8_t, std::vector<std::uint8_t>>;
    struct address {
        std::uint32_t flags = 0;
        std::uint8_t scope = 0;
    };
    // Identity of a default route as the kernel reports it in both NEWROUTE and DELROUTE:
    // (family, table, metric, gateway bytes, outgoing interfaces; empty = unknown).
    using route_key = std::tuple<std::uint8_t, std::uint32_t, std::uint32_t,
                                 std::vector<std::uint8_t>, std::vector<int>>;

    bool on_link(std::uint16_t type, std::span<const std::byte> payload);
    bool on_address(std::uint16_t type, std::span<const std::byte> payload);
    bool on_route(std::uint16_t type, std::uint16_t flags, std::span<const std::byte> payload);
    bool forget_link(int ifindex, bool addresses_too);
    bool link_carries_traffic(const link& l) const;
    bool link_has_global_address(int ifindex, std::uint8_t family) const;
    const link* usable_link() const;

    std::map<int, link> links_;
    std::map<address_key, address> addresses_;
    std::set<route_key> routes_;
};

}  // namespace booklore::net
