#include "net/link_state.hpp"

#include <arpa/inet.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_arp.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <catch2/catch.hpp>

#include <cstring>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

// The message specs below are filled with designated initializers naming only what a case needs.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

using booklore::net::dump_kind;
using booklore::net::link_state;
using booklore::net::make_dump_request;

namespace {

using bytes = std::vector<std::byte>;

// Builds one rtnetlink message the way the kernel lays it out: nlmsghdr, the family header, then
// 4-byte aligned rtattrs.
class message {
public:
    explicit message(std::uint16_t type, std::uint16_t flags = 0, std::uint32_t seq = 0) {
        nlmsghdr h{};
        h.nlmsg_type = type;
        h.nlmsg_flags = flags;
        h.nlmsg_seq = seq;
        put(&h, sizeof h);
    }

    template <typename T>
    message& body(const T& value) {
        put(&value, sizeof value);
        pad();
        return *this;
    }

    message& attr(std::uint16_t type, const void* data, std::size_t size) {
        rtattr a{};
        a.rta_type = type;
        a.rta_len = static_cast<unsigned short>(RTA_LENGTH(size));
        put(&a, sizeof a);
        put(data, size);
        pad();
        return *this;
    }
    message& attr_u32(std::uint16_t type, std::uint32_t v) { return attr(type, &v, sizeof v); }
    message& attr_u8(std::uint16_t type, std::uint8_t v) { return attr(type, &v, sizeof v); }
    message& attr_str(std::uint16_t type, const std::string& s) {
        return attr(type, s.c_str(), s.size() + 1);
    }

    bytes done() const {
        bytes out = data_;
        const auto len = static_cast<std::uint32_t>(out.size());
        std::memcpy(out.data(), &len, sizeof len);  // nlmsg_len is the first field
        return out;
    }

private:
    void put(const void* p, std::size_t n) {
        // resize + memcpy rather than insert: GCC 12 -O2 misreports insert into an empty vector.
        const std::size_t at = data_.size();
        data_.resize(at + n);
        std::memcpy(data_.data() + at, p, n);
    }
    void pad() { data_.resize(NLMSG_ALIGN(data_.size())); }

    bytes data_;
};

bytes datagram(std::initializer_list<bytes> messages) {
    bytes out;
    for (const auto& m : messages) {
        out.insert(out.end(), m.begin(), m.end());
    }
    return out;
}

constexpr unsigned up_running = IFF_UP | IFF_RUNNING | IFF_LOWER_UP | IFF_BROADCAST;

bytes new_link(int index, unsigned flags, const std::string& name,
               std::optional<std::uint8_t> operstate = std::nullopt,
               unsigned short type = ARPHRD_ETHER, unsigned char family = AF_UNSPEC,
               std::uint16_t msg_type = RTM_NEWLINK) {
    ifinfomsg info{};
    info.ifi_family = family;
    info.ifi_type = type;
    info.ifi_index = index;
    info.ifi_flags = flags;
    info.ifi_change = 0xffffffff;
    message m(msg_type);
    m.body(info).attr_str(IFLA_IFNAME, name);
    if (operstate) {
        m.attr_u8(IFLA_OPERSTATE, *operstate);
    }
    return m.done();
}

bytes del_link(int index, unsigned char family = AF_UNSPEC) {
    return new_link(index, 0, "gone", std::nullopt, ARPHRD_ETHER, family, RTM_DELLINK);
}

struct addr_spec {
    int index = 2;
    std::string text = "192.168.1.20";
    std::uint8_t prefix = 24;
    std::uint8_t scope = RT_SCOPE_UNIVERSE;
    std::uint8_t ifa_flags = IFA_F_PERMANENT;
    std::optional<std::uint32_t> flags_attr;  // IFA_FLAGS, as newer kernels send it
};

bytes addr_message(std::uint16_t type, const addr_spec& a) {
    const bool v6 = a.text.find(':') != std::string::npos;
    unsigned char raw[16];
    REQUIRE(inet_pton(v6 ? AF_INET6 : AF_INET, a.text.c_str(), raw) == 1);
    ifaddrmsg info{};
    info.ifa_family = v6 ? AF_INET6 : AF_INET;
    info.ifa_prefixlen = a.prefix;
    info.ifa_flags = a.ifa_flags;
    info.ifa_scope = a.scope;
    info.ifa_index = static_cast<unsigned>(a.index);
    message m(type);
    m.body(info).attr(IFA_ADDRESS, raw, v6 ? 16 : 4);
    if (!v6) {
        m.attr(IFA_LOCAL, raw, 4);
    }
    if (a.flags_attr) {
        m.attr_u32(IFA_FLAGS, *a.flags_attr);
    }
    return m.done();
}

bytes new_addr(const addr_spec& a) {
    return addr_message(RTM_NEWADDR, a);
}
bytes del_addr(const addr_spec& a) {
    return addr_message(RTM_DELADDR, a);
}

struct route_spec {
    std::optional<int> oif = 2;
    std::string gateway = "192.168.1.1";
    std::uint8_t dst_len = 0;
    std::uint32_t table = RT_TABLE_MAIN;
    std::uint8_t type = RTN_UNICAST;
    std::vector<int> multipath;
};

bytes route_message(std::uint16_t msg_type, const route_spec& r, std::uint16_t flags = 0) {
    const bool v6 = r.gateway.find(':') != std::string::npos;
    unsigned char gw[16];
    REQUIRE(inet_pton(v6 ? AF_INET6 : AF_INET, r.gateway.c_str(), gw) == 1);
    rtmsg info{};
    info.rtm_family = v6 ? AF_INET6 : AF_INET;
    info.rtm_dst_len = r.dst_len;
    info.rtm_table = static_cast<unsigned char>(r.table < 256 ? r.table : RT_TABLE_UNSPEC);
    info.rtm_protocol = RTPROT_DHCP;
    info.rtm_scope = RT_SCOPE_UNIVERSE;
    info.rtm_type = r.type;
    message m(msg_type, flags);
    m.body(info).attr_u32(RTA_TABLE, r.table).attr(RTA_GATEWAY, gw, v6 ? 16 : 4);
    if (r.oif) {
        m.attr_u32(RTA_OIF, static_cast<std::uint32_t>(*r.oif));
    }
    if (!r.multipath.empty()) {
        bytes hops;
        for (int index : r.multipath) {
            rtnexthop hop{};
            hop.rtnh_len = sizeof hop;
            hop.rtnh_ifindex = index;
            const auto* b = reinterpret_cast<const std::byte*>(&hop);
            hops.insert(hops.end(), b, b + sizeof hop);
        }
        m.attr(RTA_MULTIPATH, hops.data(), hops.size());
    }
    return m.done();
}

bytes new_route(const route_spec& r = {}) {
    return route_message(RTM_NEWROUTE, r);
}
bytes del_route(const route_spec& r = {}) {
    return route_message(RTM_DELROUTE, r);
}

bytes control(std::uint16_t type, std::uint32_t seq, int error = 0, std::uint16_t flags = 0) {
    message m(type, flags, seq);
    if (type == NLMSG_ERROR) {
        nlmsgerr e{};
        e.error = error;
        m.body(e);
    } else {
        m.body(error);
    }
    return m.done();
}

// Feeds as the kernel (sender pid 0).
booklore::net::feed_result feed(link_state& s, const bytes& d) {
    return s.feed(d, 0);
}

// A working Wi-Fi setup: lo plus wlan0 (index 2) up, with an IPv4 address and default route.
link_state online() {
    link_state s;
    feed(s, datagram({new_link(1, IFF_UP | IFF_RUNNING | IFF_LOOPBACK, "lo", IF_OPER_UNKNOWN,
                               ARPHRD_LOOPBACK),
                      new_link(2, up_running, "wlan0", IF_OPER_UP)}));
    feed(s, new_addr({}));
    feed(s, new_route());
    REQUIRE(s.usable());
    return s;
}

}  // namespace

TEST_CASE("link up with a global address and a default route is usable") {
    link_state s;
    CHECK_FALSE(s.usable());
    CHECK(feed(s, new_link(2, up_running, "wlan0", IF_OPER_UP)).changed);
    CHECK_FALSE(s.usable());
    CHECK(feed(s, new_addr({})).changed);
    CHECK_FALSE(s.usable());  // udhcpc sets the address before the route
    CHECK(feed(s, new_route()).changed);
    CHECK(s.usable());
    CHECK(s.usable_interface() == "wlan0");
    CHECK(s.link_count() == 1);
    CHECK(s.address_count() == 1);
    CHECK(s.default_route_count() == 1);
}

TEST_CASE("all messages of one datagram are applied, in any order") {
    link_state s;
    const auto r = feed(s, datagram({new_route(), new_addr({}), new_link(2, up_running, "eth0")}));
    CHECK(r.accepted);
    CHECK(r.changed);
    CHECK(r.malformed == 0);
    CHECK(s.usable());
}

TEST_CASE("a repeated identical message changes nothing") {
    link_state s = online();
    CHECK_FALSE(feed(s, new_addr({})).changed);
    CHECK_FALSE(feed(s, new_route()).changed);
    CHECK_FALSE(feed(s, new_link(2, up_running, "wlan0", IF_OPER_UP)).changed);
}

TEST_CASE("a tentative IPv6 address does not count until DAD completes") {
    link_state s;
    feed(s, new_link(2, up_running, "wlan0", IF_OPER_UP));
    addr_spec v6{.text = "2001:db8::20", .prefix = 64, .ifa_flags = IFA_F_TENTATIVE};
    feed(s, new_addr(v6));
    feed(s, new_route({.gateway = "fe80::1"}));
    CHECK_FALSE(s.usable());

    v6.ifa_flags = IFA_F_TENTATIVE | IFA_F_DADFAILED;
    feed(s, new_addr(v6));
    CHECK_FALSE(s.usable());

    v6.ifa_flags = 0;  // DAD done: the kernel re-announces the address without the flag
    CHECK(feed(s, new_addr(v6)).changed);
    CHECK(s.usable());
}

TEST_CASE("the IFA_FLAGS attribute overrides ifa_flags") {
    link_state s;
    feed(s, new_link(2, up_running, "wlan0", IF_OPER_UP));
    feed(s, new_route({.gateway = "fe80::1"}));
    addr_spec v6{.text = "2001:db8::20",
                 .prefix = 64,
                 .ifa_flags = 0,
                 .flags_attr = IFA_F_TENTATIVE | IFA_F_MANAGETEMPADDR};
    feed(s, new_addr(v6));
    CHECK_FALSE(s.usable());
    v6.ifa_flags = IFA_F_TENTATIVE;
    v6.flags_attr = IFA_F_MANAGETEMPADDR;
    feed(s, new_addr(v6));
    CHECK(s.usable());
}

TEST_CASE("link-local and host-scope addresses do not count") {
    link_state s;
    feed(s, new_link(2, up_running, "wlan0", IF_OPER_UP));
    feed(s, new_route({.gateway = "fe80::1"}));
    feed(s, new_route());
    feed(s, new_addr({.text = "fe80::1234", .prefix = 64, .scope = RT_SCOPE_LINK}));
    feed(s, new_addr({.text = "169.254.3.4", .prefix = 16, .scope = RT_SCOPE_LINK}));
    feed(s, new_addr({.text = "127.0.0.2", .prefix = 8, .scope = RT_SCOPE_HOST}));
    CHECK_FALSE(s.usable());
}

TEST_CASE("loopback alone is not usable") {
    link_state s;
    feed(s, new_link(1, IFF_UP | IFF_RUNNING | IFF_LOOPBACK | IFF_LOWER_UP, "lo", IF_OPER_UNKNOWN,
                     ARPHRD_LOOPBACK));
    feed(s, new_addr({.index = 1, .text = "127.0.0.1", .prefix = 8, .scope = RT_SCOPE_HOST}));
    // Even a global address and a default route through lo do not make a network.
    feed(s, new_addr({.index = 1, .text = "198.51.100.7", .prefix = 32}));
    feed(s, new_route({.oif = 1, .gateway = "198.51.100.1"}));
    CHECK_FALSE(s.usable());

    SECTION("ARPHRD_LOOPBACK counts as loopback even without IFF_LOOPBACK") {
        feed(s, new_link(1, up_running, "lo", IF_OPER_UNKNOWN, ARPHRD_LOOPBACK));
        CHECK_FALSE(s.usable());
    }
}

TEST_CASE("a link that is down or not running is not usable") {
    link_state s = online();

    SECTION("admin down") {
        CHECK(feed(s, new_link(2, IFF_BROADCAST, "wlan0", IF_OPER_DOWN)).changed);
        CHECK_FALSE(s.usable());
    }
    SECTION("up but no carrier") {
        feed(s, new_link(2, IFF_UP | IFF_BROADCAST, "wlan0", IF_OPER_LOWERLAYERDOWN));
        CHECK_FALSE(s.usable());
    }
    SECTION("Wi-Fi associated but not authenticated: carrier, operstate dormant") {
        feed(s, new_link(2, IFF_UP | IFF_LOWER_UP | IFF_DORMANT, "wlan0", IF_OPER_DORMANT));
        CHECK_FALSE(s.usable());
    }
    SECTION("operstate UP with carrier counts even without IFF_RUNNING") {
        feed(s, new_link(2, IFF_UP | IFF_LOWER_UP, "wlan0", IF_OPER_UP));
        CHECK(s.usable());
    }
    SECTION("operstate UNKNOWN with carrier counts (drivers without operstate)") {
        feed(s, new_link(2, IFF_UP | IFF_LOWER_UP, "wlan0", IF_OPER_UNKNOWN));
        CHECK(s.usable());
    }
}

TEST_CASE("taking a link down drops its IPv4 routes, as the kernel does silently") {
    link_state s = online();
    feed(s, new_link(2, IFF_BROADCAST, "wlan0", IF_OPER_DOWN));
    CHECK(s.default_route_count() == 0);
    CHECK(s.address_count() == 1);  // IPv4 addresses survive a down/up
    feed(s, new_link(2, up_running, "wlan0", IF_OPER_UP));
    CHECK_FALSE(s.usable());  // until DHCP adds the route again
    feed(s, new_route());
    CHECK(s.usable());
}

TEST_CASE("losing carrier keeps routes, so carrier back is usable again") {
    link_state s = online();
    feed(s, new_link(2, IFF_UP | IFF_BROADCAST, "wlan0", IF_OPER_LOWERLAYERDOWN));
    CHECK_FALSE(s.usable());
    CHECK(s.default_route_count() == 1);
    feed(s, new_link(2, up_running, "wlan0", IF_OPER_UP));
    CHECK(s.usable());
}

TEST_CASE("deleting the default route makes the network unusable") {
    link_state s = online();
    CHECK(feed(s, del_route()).changed);
    CHECK_FALSE(s.usable());
    CHECK(s.default_route_count() == 0);
    CHECK_FALSE(feed(s, del_route()).changed);  // already gone
}

TEST_CASE("a replaced default route leaves no stale copy behind") {
    link_state s = online();
    const route_spec moved{.gateway = "192.168.1.254"};
    CHECK(feed(s, route_message(RTM_NEWROUTE, moved, NLM_F_CREATE | NLM_F_REPLACE)).changed);
    CHECK(s.default_route_count() == 1);
    CHECK(s.usable());
    feed(s, del_route(moved));
    CHECK_FALSE(s.usable());
}

TEST_CASE("only default unicast routes of the main table count") {
    link_state s;
    feed(s, new_link(2, up_running, "wlan0", IF_OPER_UP));
    feed(s, new_addr({}));
    feed(s, new_route({.dst_len = 24}));
    feed(s, new_route({.table = RT_TABLE_LOCAL}));
    feed(s, new_route({.table = 1000}));  // ids above 255 only in RTA_TABLE
    feed(s, new_route({.type = RTN_UNREACHABLE}));
    CHECK(s.default_route_count() == 0);
    CHECK_FALSE(s.usable());
}

TEST_CASE("the default route must leave through the usable link when it names one") {
    link_state s;
    feed(s, datagram({new_link(2, up_running, "wlan0", IF_OPER_UP),
                      new_link(3, IFF_UP | IFF_BROADCAST, "eth0", IF_OPER_DOWN)}));
    feed(s, new_addr({.index = 2}));
    feed(s, new_route({.oif = 3, .gateway = "10.1.1.1"}));
    CHECK_FALSE(s.usable());

    SECTION("a route without an outgoing interface is accepted") {
        feed(s, new_route({.oif = std::nullopt, .gateway = "10.9.9.9"}));
        CHECK(s.usable());
    }
    SECTION("a multipath route with a hop through the usable link") {
        feed(s, new_route({.oif = std::nullopt, .gateway = "10.2.2.2", .multipath = {3, 2}}));
        CHECK(s.usable());
        feed(s, del_link(2));
        CHECK_FALSE(s.usable());
        CHECK(s.default_route_count() == 2);  // the hop through eth0 remains
    }
}

TEST_CASE("the address and the default route must be of the same family") {
    link_state s;
    feed(s, new_link(2, up_running, "wlan0", IF_OPER_UP));
    feed(s, new_addr({}));                       // IPv4 address
    feed(s, new_route({.gateway = "fe80::1"}));  // IPv6 default route
    CHECK_FALSE(s.usable());
    feed(s, new_addr({.text = "2001:db8::5", .prefix = 64, .ifa_flags = 0}));
    CHECK(s.usable());
    feed(s, del_addr({.text = "2001:db8::5", .prefix = 64}));
    CHECK_FALSE(s.usable());
}

TEST_CASE("RTM_DELLINK removes the link, its addresses and its routes") {
    link_state s = online();
    feed(s, new_addr({.text = "2001:db8::20", .prefix = 64, .ifa_flags = 0}));
    feed(s, new_addr({.index = 1, .text = "127.0.0.1", .prefix = 8, .scope = RT_SCOPE_HOST}));
    CHECK(s.address_count() == 3);
    CHECK(feed(s, del_link(2)).changed);
    CHECK_FALSE(s.usable());
    CHECK(s.link_count() == 1);
    CHECK(s.address_count() == 1);  // lo keeps its own
    CHECK(s.default_route_count() == 0);
    // The Kobo Wi-Fi module comes back with the same index: nothing stale makes it usable.
    feed(s, new_link(2, up_running, "wlan0", IF_OPER_UP));
    CHECK_FALSE(s.usable());
}

TEST_CASE("AF_BRIDGE link messages (bridge ports) are not link removals") {
    link_state s = online();
    CHECK_FALSE(feed(s, del_link(2, AF_BRIDGE)).changed);
    CHECK(s.usable());
}

TEST_CASE("messages from a process other than the kernel are ignored") {
    link_state s;
    const bytes spoof =
        datagram({new_link(2, up_running, "wlan0", IF_OPER_UP), new_addr({}), new_route()});
    const auto r = s.feed(spoof, 4242);
    CHECK_FALSE(r.accepted);
    CHECK_FALSE(r.changed);
    CHECK(s.link_count() == 0);
    CHECK_FALSE(s.usable());

    link_state up = online();
    up.feed(del_route(), 1);
    CHECK(up.usable());
}

TEST_CASE("truncated and garbage messages are skipped without harm") {
    link_state s = online();
    const bytes good = datagram({del_route(), del_addr({})});

    SECTION("every truncation of a valid datagram") {
        for (std::size_t n = 0; n < good.size(); ++n) {
            link_state copy = s;
            const bytes cut(good.begin(), good.begin() + static_cast<long>(n));
            copy.feed(cut, 0);  // must not crash or read out of bounds (ASan build)
        }
    }
    SECTION("nlmsg_len beyond the datagram") {
        bytes b = new_route();
        const std::uint32_t huge = 4096;
        std::memcpy(b.data(), &huge, sizeof huge);
        const auto r = feed(s, b);
        CHECK(r.malformed == 1);
        CHECK_FALSE(r.changed);
    }
    SECTION("nlmsg_len below the header size") {
        bytes b = new_route();
        const std::uint32_t tiny = 3;
        std::memcpy(b.data(), &tiny, sizeof tiny);
        CHECK(feed(s, b).malformed == 1);
    }
    SECTION("a body too short for its type is skipped, later messages still apply") {
        message shortlink(RTM_DELLINK);
        shortlink.body(std::uint32_t{2});
        const auto r = feed(s, datagram({shortlink.done(), del_route()}));
        CHECK(r.malformed == 1);
        CHECK(r.changed);
        CHECK(s.link_count() == 2);
        CHECK_FALSE(s.usable());
    }
    SECTION("an attribute longer than its message is dropped") {
        bytes b = new_addr({.text = "10.7.7.7"});
        // First attribute follows nlmsghdr (16) and ifaddrmsg (8): blow up its rta_len.
        const std::uint16_t bad = 200;
        std::memcpy(b.data() + 24, &bad, sizeof bad);
        const auto r = feed(s, b);
        CHECK_FALSE(r.changed);  // no address attribute survived, so nothing was added
        CHECK(s.address_count() == 1);
    }
    SECTION("random bytes") {
        bytes noise(517);
        std::uint32_t x = 12345;
        for (auto& byte : noise) {
            x = x * 1103515245 + 12345;
            byte = static_cast<std::byte>(x >> 16);
        }
        for (std::size_t off = 0; off < 64; ++off) {
            link_state copy = s;
            copy.feed(std::span(noise).subspan(off), 0);
        }
    }
    CHECK(s.link_count() == 2);
}

TEST_CASE("NLMSG_DONE and NLMSG_ERROR end a request and carry its errno") {
    link_state s;
    auto r = feed(s, control(NLMSG_DONE, 7));
    CHECK(r.done_seq == 7u);
    CHECK(r.error == 0);

    r = feed(s, control(NLMSG_DONE, 8, -EINTR));
    CHECK(r.done_seq == 8u);
    CHECK(r.error == EINTR);

    r = feed(s, control(NLMSG_ERROR, 9, -EBUSY));
    CHECK(r.done_seq == 9u);
    CHECK(r.error == EBUSY);

    r = feed(s, control(NLMSG_ERROR, 10, 0));  // a plain ACK ends nothing
    CHECK_FALSE(r.done_seq);

    r = feed(s, datagram({new_link(2, up_running, "x"),
                          control(NLMSG_DONE, 11, 0, NLM_F_MULTI | NLM_F_DUMP_INTR)}));
    CHECK(r.dump_interrupted);
    CHECK(r.done_seq == 11u);
}

TEST_CASE("clear() forgets everything") {
    link_state s = online();
    s.clear();
    CHECK_FALSE(s.usable());
    CHECK(s.link_count() == 0);
    CHECK(s.address_count() == 0);
    CHECK(s.default_route_count() == 0);
}

TEST_CASE("dump requests are well-formed NLM_F_DUMP messages for all families") {
    const struct {
        dump_kind kind;
        std::uint16_t type;
        std::size_t body;
    } cases[] = {{dump_kind::links, RTM_GETLINK, sizeof(ifinfomsg)},
                 {dump_kind::addresses, RTM_GETADDR, sizeof(ifaddrmsg)},
                 {dump_kind::routes, RTM_GETROUTE, sizeof(rtmsg)}};
    for (const auto& c : cases) {
        const bytes req = make_dump_request(c.kind, 42);
        REQUIRE(req.size() == NLMSG_LENGTH(c.body));
        nlmsghdr h{};
        std::memcpy(&h, req.data(), sizeof h);
        CHECK(h.nlmsg_len == req.size());
        CHECK(h.nlmsg_type == c.type);
        CHECK(h.nlmsg_flags == (NLM_F_REQUEST | NLM_F_DUMP));
        CHECK(h.nlmsg_seq == 42u);
        CHECK(static_cast<int>(req[NLMSG_HDRLEN]) == AF_UNSPEC);
    }
}
