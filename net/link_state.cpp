#include "net/link_state.hpp"

#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_arp.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

namespace booklore::net {

namespace {

// Messages arrive in a plain byte buffer that may not be aligned for the kernel structs (tests
// build them in vectors), so every struct is copied out rather than cast in place.
template <typename T>
bool read_struct(std::span<const std::byte> bytes, T& out) {
    if (bytes.size() < sizeof(T)) {
        return false;
    }
    std::memcpy(&out, bytes.data(), sizeof(T));
    return true;
}

struct attribute {
    std::uint16_t type;
    std::span<const std::byte> data;
};

// Walks the rtattr list after a fixed header; stops at the first attribute that does not fit.
template <typename F>
void for_each_attribute(std::span<const std::byte> attrs, F&& f) {
    while (attrs.size() >= sizeof(rtattr)) {
        rtattr a{};
        std::memcpy(&a, attrs.data(), sizeof a);
        if (a.rta_len < sizeof(rtattr) || a.rta_len > attrs.size()) {
            return;
        }
        f(attribute{a.rta_type, attrs.subspan(RTA_LENGTH(0), a.rta_len - RTA_LENGTH(0))});
        const std::size_t step = RTA_ALIGN(a.rta_len);
        if (step >= attrs.size()) {
            return;
        }
        attrs = attrs.subspan(step);
    }
}

template <typename T>
std::span<const std::byte> attributes_after(std::span<const std::byte> payload) {
    const std::size_t offset = NLMSG_ALIGN(sizeof(T));
    return offset >= payload.size() ? std::span<const std::byte>{} : payload.subspan(offset);
}

std::optional<std::uint32_t> as_u32(std::span<const std::byte> data) {
    std::uint32_t v = 0;
    if (!read_struct(data, v)) {
        return std::nullopt;
    }
    return v;
}

std::vector<std::uint8_t> as_bytes(std::span<const std::byte> data) {
    const auto* p = reinterpret_cast<const std::uint8_t*>(data.data());
    return {p, p + data.size()};
}

std::size_t address_length(std::uint8_t family) {
    return family == AF_INET ? 4 : 16;
}

template <typename T>
void append(std::vector<std::byte>& out, const T& value) {
    const auto* p = reinterpret_cast<const std::byte*>(&value);
    out.insert(out.end(), p, p + sizeof(T));
}

template <typename Body>
std::vector<std::byte> dump_request(std::uint16_t type, std::uint32_t seq) {
    nlmsghdr h{};
    h.nlmsg_len = NLMSG_LENGTH(sizeof(Body));
    h.nlmsg_type = type;
    h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    h.nlmsg_seq = seq;
    std::vector<std::byte> out;
    append(out, h);
    append(out, Body{});  // family AF_UNSPEC: IPv4 and IPv6 alike
    return out;
}

}  // namespace

std::vector<std::byte> make_dump_request(dump_kind kind, std::uint32_t seq) {
    switch (kind) {
        case dump_kind::links:
            return dump_request<ifinfomsg>(RTM_GETLINK, seq);
        case dump_kind::addresses:
            return dump_request<ifaddrmsg>(RTM_GETADDR, seq);
        case dump_kind::routes:
            break;
    }
    return dump_request<rtmsg>(RTM_GETROUTE, seq);
}

feed_result link_state::feed(std::span<const std::byte> datagram, std::uint32_t sender_pid) {
    feed_result result;
    if (sender_pid != 0) {
        return result;
    }
    result.accepted = true;
    while (!datagram.empty()) {
        nlmsghdr h{};
        if (!read_struct(datagram, h) || h.nlmsg_len < sizeof(nlmsghdr) ||
            h.nlmsg_len > datagram.size()) {
            ++result.malformed;  // the rest of the datagram cannot be framed
            break;
        }
        const auto payload = datagram.subspan(NLMSG_HDRLEN, h.nlmsg_len - NLMSG_HDRLEN);
        if (h.nlmsg_flags & NLM_F_DUMP_INTR) {
            result.dump_interrupted = true;
        }
        bool ok = true;
        switch (h.nlmsg_type) {
            case NLMSG_DONE: {
                // A dump that failed half-way ends with NLMSG_DONE carrying a negative errno.
                int status = 0;
                read_struct(payload, status);
                result.done_seq = h.nlmsg_seq;
                result.error = status < 0 ? -status : 0;
                break;
            }
            case NLMSG_ERROR: {
                nlmsgerr e{};
                ok = read_struct(payload, e);
                if (ok && e.error != 0) {  // 0 is a plain acknowledgement
                    result.done_seq = h.nlmsg_seq;
                    result.error = -e.error;
                }
                break;
            }
            case RTM_NEWLINK:
            case RTM_DELLINK:
                ok = payload.size() >= sizeof(ifinfomsg);
                result.changed |= ok && on_link(h.nlmsg_type, payload);
                break;
            case RTM_NEWADDR:
            case RTM_DELADDR:
                ok = payload.size() >= sizeof(ifaddrmsg);
                result.changed |= ok && on_address(h.nlmsg_type, payload);
                break;
            case RTM_NEWROUTE:
            case RTM_DELROUTE:
                ok = payload.size() >= sizeof(rtmsg);
                result.changed |= ok && on_route(h.nlmsg_type, h.nlmsg_flags, payload);
                break;
            default:
                break;  // NLMSG_NOOP, NLMSG_OVERRUN, other families: nothing we track
        }
        if (!ok) {
            ++result.malformed;
        }
        const std::size_t step = NLMSG_ALIGN(h.nlmsg_len);
        datagram = step >= datagram.size() ? std::span<const std::byte>{} : datagram.subspan(step);
    }
    return result;
}

bool link_state::on_link(std::uint16_t type, std::span<const std::byte> payload) {
    ifinfomsg info{};
    read_struct(payload, info);
    // AF_BRIDGE messages describe bridge ports; their RTM_DELLINK means "left the bridge".
    if (info.ifi_family != AF_UNSPEC || info.ifi_index <= 0) {
        return false;
    }
    if (type == RTM_DELLINK) {
        const bool known = links_.erase(info.ifi_index) > 0;
        return forget_link(info.ifi_index, true) || known;
    }
    const auto old = links_.find(info.ifi_index);
    link next = old != links_.end() ? old->second : link{};
    next.flags = info.ifi_flags;
    next.loopback = (info.ifi_flags & IFF_LOOPBACK) || info.ifi_type == ARPHRD_LOOPBACK;
    for_each_attribute(attributes_after<ifinfomsg>(payload), [&](const attribute& a) {
        if (a.type == IFLA_IFNAME) {
            const auto* p = reinterpret_cast<const char*>(a.data.data());
            next.name.assign(p, strnlen(p, a.data.size()));
        } else if (a.type == IFLA_OPERSTATE && !a.data.empty()) {
            next.operstate = static_cast<std::uint8_t>(a.data[0]);
        }
    });
    bool changed = old == links_.end() || old->second.flags != next.flags ||
                   old->second.operstate != next.operstate ||
                   old->second.loopback != next.loopback || old->second.name != next.name;
    // Taking a link down makes the kernel drop its IPv4 routes without any RTM_DELROUTE.
    const bool went_down =
        old != links_.end() && (old->second.flags & IFF_UP) && !(next.flags & IFF_UP);
    links_[info.ifi_index] = std::move(next);
    if (went_down) {
        changed |= forget_link(info.ifi_index, false);
    }
    return changed;
}

bool link_state::forget_link(int ifindex, bool addresses_too) {
    bool changed = false;
    if (addresses_too) {
        changed |= std::erase_if(addresses_, [&](const auto& a) {
                       return std::get<0>(a.first) == ifindex;
                   }) > 0;
    }
    std::set<route_key> kept;
    for (auto key : routes_) {
        auto& oifs = std::get<4>(key);
        const auto before = oifs.size();
        std::erase(oifs, ifindex);
        if (oifs.size() == before) {
            kept.insert(std::move(key));
        } else {
            changed = true;
            if (!oifs.empty()) {  // a multipath route keeps its other hops
                kept.insert(std::move(key));
            }
        }
    }
    routes_ = std::move(kept);
    return changed;
}

bool link_state::on_address(std::uint16_t type, std::span<const std::byte> payload) {
    ifaddrmsg info{};
    read_struct(payload, info);
    if (info.ifa_family != AF_INET && info.ifa_family != AF_INET6) {
        return false;
    }
    std::span<const std::byte> local, addr;
    std::uint32_t flags = info.ifa_flags;
    for_each_attribute(attributes_after<ifaddrmsg>(payload), [&](const attribute& a) {
        if (a.type == IFA_LOCAL) {
            local = a.data;
        } else if (a.type == IFA_ADDRESS) {
            addr = a.data;
        } else if (a.type == IFA_FLAGS) {
            flags = as_u32(a.data).value_or(flags);  // the full 32-bit flags on newer kernels
        }
    });
    // IFA_LOCAL is our own address on point-to-point links, where IFA_ADDRESS is the peer.
    const auto own = local.empty() ? addr : local;
    if (own.size() != address_length(info.ifa_family)) {
        return false;
    }
    address_key key{static_cast<int>(info.ifa_index), info.ifa_family, info.ifa_prefixlen,
                    as_bytes(own)};
    if (type == RTM_DELADDR) {
        return addresses_.erase(key) > 0;
    }
    const address next{flags, info.ifa_scope};
    const auto [it, inserted] = addresses_.try_emplace(std::move(key), next);
    if (inserted) {
        return true;
    }
    const bool changed = it->second.flags != next.flags || it->second.scope != next.scope;
    it->second = next;
    return changed;
}

bool link_state::on_route(std::uint16_t type, std::uint16_t flags,
                          std::span<const std::byte> payload) {
    rtmsg info{};
    read_struct(payload, info);
    if ((info.rtm_family != AF_INET && info.rtm_family != AF_INET6) || info.rtm_dst_len != 0 ||
        info.rtm_type != RTN_UNICAST || (info.rtm_flags & RTM_F_CLONED)) {
        return false;  // only real default routes matter
    }
    std::uint32_t table = info.rtm_table;
    std::uint32_t metric = 0;
    std::vector<std::uint8_t> gateway;
    std::vector<int> oifs;
    for_each_attribute(attributes_after<rtmsg>(payload), [&](const attribute& a) {
        if (a.type == RTA_TABLE) {
            table = as_u32(a.data).value_or(table);  // table ids above 255 only live here
        } else if (a.type == RTA_PRIORITY) {
            metric = as_u32(a.data).value_or(0);
        } else if (a.type == RTA_GATEWAY) {
            gateway = as_bytes(a.data);
        } else if (a.type == RTA_OIF) {
            if (auto oif = as_u32(a.data)) {
                oifs.push_back(static_cast<int>(*oif));
            }
        } else if (a.type == RTA_MULTIPATH) {
            auto hops = a.data;
            rtnexthop hop{};
            while (read_struct(hops, hop) && hop.rtnh_len >= sizeof(rtnexthop) &&
                   hop.rtnh_len <= hops.size()) {
                oifs.push_back(hop.rtnh_ifindex);
                const std::size_t step = RTNH_ALIGN(hop.rtnh_len);
                hops = step >= hops.size() ? std::span<const std::byte>{} : hops.subspan(step);
            }
        }
    });
    if (table != RT_TABLE_MAIN) {
        return false;
    }
    std::sort(oifs.begin(), oifs.end());
    route_key key{info.rtm_family, table, metric, std::move(gateway), std::move(oifs)};
    if (type == RTM_DELROUTE) {
        return routes_.erase(key) > 0;
    }
    // `ip route replace` (and some DHCP clients) swap a route in place: no RTM_DELROUTE is sent
    // for the one with the same table and metric that it replaced.
    bool replaced = false;
    if (flags & NLM_F_REPLACE) {
        replaced = std::erase_if(routes_, [&](const route_key& old) {
                       return std::get<0>(old) == info.rtm_family && std::get<1>(old) == table &&
                              std::get<2>(old) == metric && old != key;
                   }) > 0;
    }
    return routes_.insert(std::move(key)).second || replaced;
}

bool link_state::link_carries_traffic(const link& l) const {
    if (l.loopback || !(l.flags & IFF_UP)) {
        return false;
    }
    // IFF_RUNNING is RFC 2863 "operationally up"; a dormant Wi-Fi link has carrier but not this.
    const bool oper_up =
        l.operstate && (*l.operstate == IF_OPER_UP || *l.operstate == IF_OPER_UNKNOWN);
    return (l.flags & IFF_RUNNING) || (oper_up && (l.flags & IFF_LOWER_UP));
}

bool link_state::link_has_global_address(int ifindex, std::uint8_t family) const {
    return std::any_of(addresses_.begin(), addresses_.end(), [&](const auto& a) {
        return std::get<0>(a.first) == ifindex && std::get<1>(a.first) == family &&
               a.second.scope == RT_SCOPE_UNIVERSE &&
               !(a.second.flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED));
    });
}

const link_state::link* link_state::usable_link() const {
    for (const auto& route : routes_) {
        const std::uint8_t family = std::get<0>(route);
        const auto& oifs = std::get<4>(route);
        for (const auto& [index, l] : links_) {
            const bool through_it =
                oifs.empty() || std::find(oifs.begin(), oifs.end(), index) != oifs.end();
            if (through_it && link_carries_traffic(l) && link_has_global_address(index, family)) {
                return &l;
            }
        }
    }
    return nullptr;
}

bool link_state::usable() const {
    return usable_link() != nullptr;
}

std::string link_state::usable_interface() const {
    const link* l = usable_link();
    return l ? l->name : std::string{};
}

void link_state::clear() {
    links_.clear();
    addresses_.clear();
    routes_.clear();
}

}  // namespace booklore::net
