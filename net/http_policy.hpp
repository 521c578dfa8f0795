#pragma once

#include <boost/beast/http/verb.hpp>

#include <chrono>
#include <optional>
#include <string_view>

namespace booklore::net {

/// What the client does with a 3xx answer (the origin check comes on top of this).
enum class redirect_action {
    follow_same_method,  ///< 307/308: resend method and body unchanged
    follow_as_get,       ///< 301/302/303 to a GET or HEAD: send it again, without a body
    return_response,     ///< anything else: the caller gets the 3xx itself
};

/// The redirect rule of the client. 301/302/303 to a POST, PUT or DELETE is returned as it is:
/// turning an upload into a GET would make it look like it succeeded.
redirect_action redirect_rule(boost::beast::http::verb method, unsigned status);

/// True for "application/json" and "application/<something>+json", ignoring parameters and
/// case; the daemon treats any other 2xx body as "not the endpoint we expected".
bool is_json_media_type(std::string_view content_type);

}  // namespace booklore::net
