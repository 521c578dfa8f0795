#pragma once

#include <boost/system/error_code.hpp>

#include <type_traits>

namespace booklore::net {

/// Conditions the net module itself detects (the rest are Asio/Beast/OpenSSL codes).
enum class errc {
    invalid_url = 1,            ///< the URL is not of the form http(s)://host[:port][/path]
    unsupported_scheme,         ///< neither http:// nor https://
    missing_host,               ///< nothing between "//" and the path
    invalid_host,               ///< characters a host name cannot hold, or a bad [IPv6] literal
    invalid_port,               ///< not a number in 1..65535
    userinfo_not_allowed,       ///< user:password@ in the URL; credentials belong in the config
    query_not_allowed,          ///< ?query or #fragment in a server URL
    invalid_path,               ///< characters a path cannot hold, or a broken %-escape
    invalid_request,            ///< a target or header the client refuses to put on the wire
    request_in_progress,        ///< send() called while another send() of the client runs
    response_too_large,         ///< the response body exceeds client_options::max_response_body
    too_many_redirects,         ///< more same-origin redirects than client_options::max_redirects
    certificate_untrusted,      ///< the chain does not lead to a trusted CA
    certificate_expired,        ///< the server's certificate (or one in its chain) has expired
    certificate_not_yet_valid,  ///< not yet valid: often the device clock is wrong
    certificate_name_mismatch,  ///< the certificate is not for the host in server_url
};

/// The category of errc; its name is "booklore.net".
const boost::system::error_category& net_category() noexcept;

inline boost::system::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), net_category()};
}

}  // namespace booklore::net

template <>
struct boost::system::is_error_code_enum<booklore::net::errc> : std::true_type {};
