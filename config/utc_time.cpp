#include "config/utc_time.hpp"

#include <chrono>
#include <cstdio>

namespace booklore {
namespace {

/// Reads exactly `width` digits at `pos`.
std::optional<int> digits(std::string_view s, std::size_t pos, std::size_t width) {
    if (pos + width > s.size())
        return std::nullopt;
    int value = 0;
    for (std::size_t i = pos; i < pos + width; ++i) {
        if (s[i] < '0' || s[i] > '9')
            return std::nullopt;
        value = value * 10 + (s[i] - '0');
    }
    return value;
}

}  // namespace

std::optional<std::int64_t> parse_iso_utc(std::string_view s) {
    using namespace std::chrono;
    // YYYY-MM-DDTHH:MM:SS is 19 characters; the zone follows.
    auto year = digits(s, 0, 4), month = digits(s, 5, 2), day = digits(s, 8, 2);
    auto hour = digits(s, 11, 2), minute = digits(s, 14, 2), second = digits(s, 17, 2);
    if (!year || !month || !day || !hour || !minute || !second || s[4] != '-' || s[7] != '-' ||
        (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':')
        return std::nullopt;
    year_month_day date{std::chrono::year(*year), std::chrono::month(*month),
                        std::chrono::day(*day)};
    if (!date.ok() || *hour > 23 || *minute > 59 || *second > 59)
        return std::nullopt;
    std::size_t pos = 19;
    if (pos < s.size() && s[pos] == '.') {
        ++pos;
        std::size_t start = pos;
        while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9')
            ++pos;
        if (pos == start)
            return std::nullopt;
    }
    std::int64_t offset = 0;
    if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
        ++pos;
    } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
        auto oh = digits(s, pos + 1, 2), om = digits(s, pos + 4, 2);
        if (!oh || !om || pos + 3 >= s.size() || s[pos + 3] != ':' || *oh > 23 || *om > 59)
            return std::nullopt;
        offset = (s[pos] == '+' ? 1 : -1) * (*oh * 3600 + *om * 60);
        pos += 6;
    } else {
        return std::nullopt;
    }
    if (pos != s.size())
        return std::nullopt;
    std::int64_t days = sys_days(date).time_since_epoch().count();
    std::int64_t epoch = days * 86400 + *hour * 3600 + *minute * 60 + *second - offset;
    if (epoch < 0 || epoch > max_epoch_seconds)
        return std::nullopt;
    return epoch;
}

std::string format_iso_utc(std::int64_t epoch_seconds) {
    using namespace std::chrono;
    sys_seconds t{seconds(epoch_seconds)};
    auto days = floor<std::chrono::days>(t);
    year_month_day date(days);
    hh_mm_ss time(t - days);
    char out[64];
    std::snprintf(out, sizeof out, "%04d-%02u-%02uT%02ld:%02ld:%02lldZ", int(date.year()),
                  unsigned(date.month()), unsigned(date.day()), long(time.hours().count()),
                  long(time.minutes().count()), static_cast<long long>(time.seconds().count()));
    return out;
}

std::string utc_now_iso() {
    using namespace std::chrono;
    return format_iso_utc(duration_cast<seconds>(system_clock::now().time_since_epoch()).count());
}

}  // namespace booklore
