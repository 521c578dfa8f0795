#include "net/http_policy.hpp"

#include <algorithm>

namespace booklore::net {
namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               auto low = [](char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; };
               return low(x) == low(y);
           });
}

}  // namespace

redirect_action redirect_rule(boost::beast::http::verb method, unsigned status) {
    using boost::beast::http::verb;
    switch (status) {
        case 307:
        case 308:
            return redirect_action::follow_same_method;
        case 301:
        case 302:
        case 303:
            return method == verb::get || method == verb::head ? redirect_action::follow_as_get
                                                               : redirect_action::return_response;
        default:
            return redirect_action::return_response;
    }
}

bool is_json_media_type(std::string_view content_type) {
    const auto type = trim(content_type.substr(0, content_type.find(';')));
    if (iequals(type, "application/json"))
        return true;
    const std::string_view prefix = "application/";
    const std::string_view suffix = "+json";
    return type.size() > prefix.size() + suffix.size() &&
           iequals(type.substr(0, prefix.size()), prefix) &&
           iequals(type.substr(type.size() - suffix.size()), suffix);
}

}  // namespace booklore::net
