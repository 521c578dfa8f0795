#include "net/http_policy.hpp"

#include <algorithm>
#include <array>
#include <charconv>

namespace booklore::net {
namespace {

constexpr std::chrono::seconds max_retry_after = std::chrono::hours(24);

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

/// Reads exactly `digits` decimal digits at s[pos].
std::optional<int> number(std::string_view s, std::size_t pos, std::size_t digits) {
    if (pos + digits > s.size())
        return std::nullopt;
    int value = 0;
    for (std::size_t i = pos; i < pos + digits; ++i) {
        if (s[i] < '0' || s[i] > '9')
            return std::nullopt;
        value = value * 10 + (s[i] - '0');
    }
    return value;
}

/// IMF-fixdate, the only HTTP-date form servers send today: "Sun, 06 Nov 1994 08:49:37 GMT".
std::optional<std::chrono::sys_seconds> parse_imf_fixdate(std::string_view s) {
    static constexpr std::array<std::string_view, 12> months = {
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    if (s.size() != 29 || s.substr(3, 2) != ", " || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' ||
        s[19] != ':' || s[22] != ':' || s.substr(25) != " GMT")
        return std::nullopt;
    const auto month_it = std::find(months.begin(), months.end(), s.substr(8, 3));
    const auto day = number(s, 5, 2);
    const auto year = number(s, 12, 4);
    const auto hour = number(s, 17, 2);
    const auto minute = number(s, 20, 2);
    const auto second = number(s, 23, 2);
    if (month_it == months.end() || !day || !year || !hour || !minute || !second || *hour > 23 ||
        *minute > 59 || *second > 60)
        return std::nullopt;
    using namespace std::chrono;
    const year_month_day date{std::chrono::year(*year),
                              month(static_cast<unsigned>(month_it - months.begin() + 1)),
                              std::chrono::day(static_cast<unsigned>(*day))};
    if (!date.ok())
        return std::nullopt;
    return sys_days(date) + hours(*hour) + minutes(*minute) + seconds(*second);
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

std::optional<std::chrono::seconds> parse_retry_after(std::string_view value,
                                                      std::chrono::system_clock::time_point now) {
    value = trim(value);
    if (value.empty())
        return std::nullopt;
    if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        // Anything longer than the cap's digits is beyond the cap anyway (and would overflow).
        if (value.size() > 6)
            return max_retry_after;
        long long seconds = 0;
        std::from_chars(value.data(), value.data() + value.size(), seconds);
        return std::min(std::chrono::seconds(seconds), max_retry_after);
    }
    const auto date = parse_imf_fixdate(value);
    if (!date)
        return std::nullopt;
    const auto wait = std::chrono::ceil<std::chrono::seconds>(*date - now);
    return std::clamp(wait, std::chrono::seconds(0), max_retry_after);
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
