#include "net/url.hpp"

#include "net/error.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>

namespace booklore::net {
namespace {

using boost::system::result;

bool is_alpha(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_digit(char c) {
    return c >= '0' && c <= '9';
}
bool is_hex(char c) {
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
char lower(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string to_lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(), lower);
    return out;
}

/// RFC 3986 pchar, plus '/' (path) and '?' (query); %XX escapes must be complete.
bool valid_path_or_query(std::string_view s, bool allow_question_mark) {
    static constexpr std::string_view allowed = "-._~!$&'()*+,;=:@/";
    for (std::size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        if (c == '%') {
            if (i + 2 >= s.size() || !is_hex(s[i + 1]) || !is_hex(s[i + 2]))
                return false;
            i += 2;
        } else if (!(is_alpha(c) || is_digit(c) || allowed.find(c) != std::string_view::npos ||
                     (allow_question_mark && c == '?'))) {
            return false;
        }
    }
    return true;
}

bool valid_reg_name(std::string_view host) {
    if (host.front() == '.' || host.front() == '-')
        return false;
    return std::all_of(host.begin(), host.end(), [](char c) {
        return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_';
    });
}

std::uint16_t default_port(bool tls) {
    return tls ? 443 : 80;
}

/// An absolute http(s) URL split into origin and the rest ("/path?query", maybe empty).
struct absolute_url {
    server_url origin;
    std::string rest;
};

result<absolute_url> parse_absolute(std::string_view text) {
    for (char c : text) {
        if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f)
            return errc::invalid_url;
    }
    const auto scheme_end = text.find("://");
    if (scheme_end == std::string_view::npos)
        return errc::unsupported_scheme;
    const std::string scheme = to_lower(text.substr(0, scheme_end));
    absolute_url url;
    if (scheme == "https")
        url.origin.tls = true;
    else if (scheme != "http")
        return errc::unsupported_scheme;

    std::string_view after = text.substr(scheme_end + 3);
    const auto authority_end = after.find_first_of("/?#");
    std::string_view authority = after.substr(0, authority_end);
    url.rest = authority_end == std::string_view::npos ? "" : after.substr(authority_end);

    if (authority.find('@') != std::string_view::npos)
        return errc::userinfo_not_allowed;

    std::string_view host;
    std::string_view port_text;
    bool has_port = false;
    if (!authority.empty() && authority.front() == '[') {
        const auto close = authority.find(']');
        if (close == std::string_view::npos)
            return errc::invalid_host;
        host = authority.substr(1, close - 1);
        std::string_view tail = authority.substr(close + 1);
        if (!tail.empty()) {
            if (tail.front() != ':')
                return errc::invalid_host;
            has_port = true;
            port_text = tail.substr(1);
        }
        in6_addr unused{};
        const std::string host_z(host);
        if (host.empty() || inet_pton(AF_INET6, host_z.c_str(), &unused) != 1)
            return errc::invalid_host;
    } else {
        const auto colon = authority.find(':');
        host = authority.substr(0, colon);
        if (colon != std::string_view::npos) {
            has_port = true;
            port_text = authority.substr(colon + 1);
        }
        if (host.empty())
            return errc::missing_host;
        if (!valid_reg_name(host))
            return errc::invalid_host;
    }
    url.origin.host = to_lower(host);

    url.origin.port = default_port(url.origin.tls);
    if (has_port) {
        unsigned value = 0;
        const char* end = port_text.data() + port_text.size();
        auto [ptr, ec] = std::from_chars(port_text.data(), end, value);
        if (port_text.empty() || port_text.size() > 5 || ec != std::errc{} || ptr != end ||
            value == 0 || value > 65535)
            return errc::invalid_port;
        url.origin.port = static_cast<std::uint16_t>(value);
    }
    return url;
}

/// RFC 3986 section 5.2.4: removes "." and ".." segments from an absolute path.
std::string remove_dot_segments(std::string_view in) {
    std::string out;
    while (!in.empty()) {
        if (in.starts_with("../")) {
            in.remove_prefix(3);
        } else if (in.starts_with("./")) {
            in.remove_prefix(2);
        } else if (in.starts_with("/./")) {
            in.remove_prefix(2);
        } else if (in == "/.") {
            in = "/";
        } else if (in.starts_with("/../") || in == "/..") {
            in = in.size() == 3 ? std::string_view("/") : in.substr(3);
            const auto slash = out.rfind('/');
            out.erase(slash == std::string::npos ? 0 : slash);
        } else if (in == "." || in == "..") {
            in = {};
        } else {
            const auto next = in.find('/', 1);
            out.append(in.substr(0, next));
            in = next == std::string_view::npos ? std::string_view{} : in.substr(next);
        }
    }
    return out;
}

/// Splits "path?query" into its path and "?query" (empty when there is none).
std::pair<std::string_view, std::string_view> split_query(std::string_view s) {
    const auto q = s.find('?');
    if (q == std::string_view::npos)
        return {s, {}};
    return {s.substr(0, q), s.substr(q)};
}

bool has_scheme(std::string_view ref) {
    const auto colon = ref.find(':');
    if (colon == std::string_view::npos || colon == 0 || !is_alpha(ref.front()))
        return false;
    return ref.substr(0, colon).find_first_of("/?#") == std::string_view::npos;
}

}  // namespace

std::string server_url::authority() const {
    const bool v6 = host.find(':') != std::string::npos;
    return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::string server_url::host_header() const {
    const bool v6 = host.find(':') != std::string::npos;
    std::string out = v6 ? "[" + host + "]" : host;
    if (port != default_port(tls))
        out += ":" + std::to_string(port);
    return out;
}

result<server_url> parse_server_url(std::string_view text) {
    auto parsed = parse_absolute(text);
    if (!parsed)
        return parsed.error();
    std::string_view path = parsed->rest;
    if (path.find_first_of("?#") != std::string_view::npos)
        return errc::query_not_allowed;
    if (!valid_path_or_query(path, false))
        return errc::invalid_path;
    while (!path.empty() && path.back() == '/')
        path.remove_suffix(1);
    server_url url = std::move(parsed->origin);
    url.base_path = std::string(path);
    return url;
}

bool redirect_target::same_origin_as(const server_url& server) const {
    return tls == server.tls && host == server.host && port == server.port;
}

result<redirect_target> resolve_redirect(const server_url& server, std::string_view request_target,
                                         std::string_view location) {
    location = location.substr(0, location.find('#'));
    if (location.empty())
        return errc::invalid_url;

    redirect_target out{server.tls, server.host, server.port, {}};
    std::string_view reference = location;
    std::string absolute;
    if (location.starts_with("//") || has_scheme(location)) {
        absolute = location.starts_with("//")
                       ? std::string(server.tls ? "https:" : "http:") + std::string(location)
                       : std::string(location);
        auto parsed = parse_absolute(absolute);
        if (!parsed)
            return parsed.error();
        out.tls = parsed->origin.tls;
        out.host = std::move(parsed->origin.host);
        out.port = parsed->origin.port;
        absolute = std::move(parsed->rest);
        if (absolute.empty() || absolute.front() == '?')
            absolute.insert(0, "/");  // "https://host?q" has the path "/"
        reference = absolute;
    }

    for (char c : reference) {
        if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f)
            return errc::invalid_url;
    }
    auto [ref_path, ref_query] = split_query(reference);
    if (!valid_path_or_query(ref_path, false) || !valid_path_or_query(ref_query, true))
        return errc::invalid_path;

    const auto current_path = split_query(request_target).first;
    std::string path;
    if (ref_path.empty()) {
        path = std::string(current_path);  // "?query" only: same path, new query
    } else if (ref_path.front() == '/') {
        path = remove_dot_segments(ref_path);
    } else {
        const auto slash = current_path.rfind('/');
        std::string merged(slash == std::string_view::npos ? std::string_view("/")
                                                           : current_path.substr(0, slash + 1));
        merged.append(ref_path);
        path = remove_dot_segments(merged);
    }
    if (path.empty())
        path = "/";
    out.target = path + std::string(ref_query);
    return out;
}

bool is_ip_literal(std::string_view host) {
    const std::string text(host);
    in6_addr v6{};
    in_addr v4{};
    return inet_pton(AF_INET, text.c_str(), &v4) == 1 ||
           inet_pton(AF_INET6, text.c_str(), &v6) == 1;
}

}  // namespace booklore::net
