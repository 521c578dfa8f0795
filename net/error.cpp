#include "net/error.hpp"

#include <string>

namespace booklore::net {
namespace {

class category final : public boost::system::error_category {
public:
    const char* name() const noexcept override { return "booklore.net"; }

    std::string message(int value) const override {
        switch (static_cast<errc>(value)) {
            case errc::invalid_url:
                return "not a URL of the form http(s)://host[:port][/path]";
            case errc::unsupported_scheme:
                return "the URL must start with http:// or https://";
            case errc::missing_host:
                return "the URL has no host name";
            case errc::invalid_host:
                return "the URL's host is not a valid host name or IP address";
            case errc::invalid_port:
                return "the URL's port must be a number from 1 to 65535";
            case errc::userinfo_not_allowed:
                return "the URL must not contain user:password@ (set the credentials in the "
                       "configuration instead)";
            case errc::query_not_allowed:
                return "the server URL must not contain '?' or '#'";
            case errc::invalid_path:
                return "the URL's path contains characters that must be %-encoded";
            case errc::invalid_request:
                return "the request has a target or header that cannot be sent";
            case errc::request_in_progress:
                return "another request of this client is still running";
            case errc::response_too_large:
                return "the response is larger than the client accepts";
            case errc::too_many_redirects:
                return "too many redirects";
            case errc::certificate_untrusted:
                return "the server's certificate is not signed by a trusted CA (set ca_file "
                       "for a self-hosted server)";
            case errc::certificate_expired:
                return "the server's certificate has expired (or the device clock is wrong)";
            case errc::certificate_not_yet_valid:
                return "the server's certificate is not valid yet (is the device clock right?)";
            case errc::certificate_name_mismatch:
                return "the server's certificate is not issued for the host in server_url";
        }
        return "unknown booklore.net error";
    }
};

}  // namespace

const boost::system::error_category& net_category() noexcept {
    static const category instance;
    return instance;
}

}  // namespace booklore::net
