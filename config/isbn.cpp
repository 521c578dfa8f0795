#include "config/isbn.hpp"

namespace booklore {
namespace {

char isbn13_check(std::string_view first12) {
    int sum = 0;
    for (std::size_t i = 0; i < 12; ++i)
        sum += (first12[i] - '0') * (i % 2 == 0 ? 1 : 3);
    return static_cast<char>('0' + (10 - sum % 10) % 10);
}

bool isbn10_valid(std::string_view d) {
    int sum = 0;
    for (std::size_t i = 0; i < 10; ++i)
        sum += (d[i] == 'X' ? 10 : d[i] - '0') * static_cast<int>(10 - i);
    return sum % 11 == 0;
}

}  // namespace

std::optional<std::string> normalise_isbn(std::string_view isbn) {
    std::string d;
    for (char c : isbn) {
        if (c == '-' || c == ' ')
            continue;
        if (c == 'x')
            c = 'X';
        bool digit = c >= '0' && c <= '9';
        // X is the ISBN-10 check digit (value 10), so only in tenth place.
        if (!digit && !(c == 'X' && d.size() == 9))
            return std::nullopt;
        d.push_back(c);
        if (d.size() > 13)
            return std::nullopt;
    }
    if (d.size() == 13) {
        if (d.find('X') != std::string::npos || isbn13_check(d) != d[12])
            return std::nullopt;
        return d;
    }
    if (d.size() != 10 || !isbn10_valid(d))
        return std::nullopt;
    std::string out = "978" + d.substr(0, 9);
    out.push_back(isbn13_check(out));
    return out;
}

}  // namespace booklore
