#pragma once

#include <boost/system/result.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace booklore::net {

/// A BookLore base URL, split into what the HTTP client needs.
struct server_url {
    bool tls = false;
    /// Lower-case host name or IP address; an IPv6 address without its brackets.
    std::string host;
    /// The URL's port, or 80 / 443 when it names none.
    std::uint16_t port = 0;
    /// "" or a path like "/booklore"; never ends with '/', so base_path + "/api/..." works.
    std::string base_path;

    /// "host:port" ("[::1]:8443" for IPv6), for messages and log lines.
    std::string authority() const;
    /// The Host header: like authority() but without a default port.
    std::string host_header() const;

    bool operator==(const server_url&) const = default;
};

/// Parses `http(s)://host[:port][/base/path][/]`. The scheme and host are case-insensitive,
/// IPv6 literals go in brackets ("http://[::1]:8080"). Refused, with an errc naming the
/// problem: other schemes, user:password@ (credentials never go into URLs), a query or
/// fragment, a missing host, a port outside 1..65535, characters that need %-encoding.
boost::system::result<server_url> parse_server_url(std::string_view text);

/// Where a redirect's Location header points.
struct redirect_target {
    bool tls = false;
    std::string host;
    std::uint16_t port = 0;
    /// The request target to send: an absolute path with the query, without the fragment.
    std::string target;

    /// True when scheme, host and port all equal the server's. Redirects elsewhere are never
    /// followed, because credentials travel in the request headers.
    bool same_origin_as(const server_url& server) const;
};

/// Resolves a Location value (absolute URL, "//host/path", "/path", "path" or "?query")
/// against the request target that received it, as RFC 3986 section 5 describes.
boost::system::result<redirect_target> resolve_redirect(const server_url& server,
                                                        std::string_view request_target,
                                                        std::string_view location);

/// True for an IPv4 dotted quad or an IPv6 address (without brackets): these are connected to
/// without DNS and get no SNI (RFC 6066 allows host names only).
bool is_ip_literal(std::string_view host);

}  // namespace booklore::net
