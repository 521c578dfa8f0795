#include "daemon/requests/event_fields.hpp"

#include "config/isbn.hpp"
#include "config/utc_time.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <optional>
#include <string_view>
#include <utility>

namespace booklore::syncd {
namespace {

using json = rapidjson::Value;

constexpr std::size_t max_location_length = 500;
constexpr std::size_t max_event_id_length = 64;
constexpr std::size_t max_text_length = 4096;

constexpr std::array<std::string_view, 7> book_types = {"PDF",  "EPUB", "CBX",      "FB2",
                                                        "MOBI", "AZW3", "AUDIOBOOK"};

/// Reads the fields of one request, remembering the first error so that callers can write
/// straight-line code and check once.
class fields {
public:
    explicit fields(const json& body) : body_(body) {}

    const std::optional<field_error>& error() const { return error_; }

    const json* find(const char* name) const {
        auto it = body_.FindMember(name);
        return it == body_.MemberEnd() || it->value.IsNull() ? nullptr : &it->value;
    }

    void fail(const char* name, std::string message) {
        if (!error_)
            error_ = field_error{name, std::move(message)};
    }

    bool require(const char* name) {
        if (find(name))
            return true;
        fail(name, std::string("\"") + name + "\" is required");
        return false;
    }

    std::optional<std::string> text(const char* name, std::size_t max_length = max_text_length) {
        const json* v = find(name);
        if (!v)
            return std::nullopt;
        if (!v->IsString()) {
            fail(name, std::string("\"") + name + "\" must be a string");
            return std::nullopt;
        }
        if (v->GetStringLength() > max_length) {
            fail(name, std::string("\"") + name + "\" is longer than " +
                           std::to_string(max_length) + " characters");
            return std::nullopt;
        }
        return std::string(v->GetString(), v->GetStringLength());
    }

    std::optional<std::string> non_empty_text(const char* name) {
        auto v = text(name);
        if (v && v->empty()) {
            fail(name, std::string("\"") + name + "\" must not be empty");
            return std::nullopt;
        }
        return v;
    }

    std::optional<std::string> book_hash(const char* name) {
        auto v = text(name);
        if (!v)
            return std::nullopt;
        bool hex = v->size() == 32 && std::all_of(v->begin(), v->end(), [](char c) {
                       return std::isxdigit(static_cast<unsigned char>(c));
                   });
        if (!hex) {
            fail(name, std::string("\"") + name + "\" must be 32 hexadecimal characters");
            return std::nullopt;
        }
        std::transform(v->begin(), v->end(), v->begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        return v;
    }

    /// Stored as 13 digits, so that books match whichever form the server keeps.
    std::optional<std::string> isbn(const char* name) {
        auto v = text(name, 32);
        if (!v)
            return std::nullopt;
        auto normal = normalise_isbn(*v);
        if (!normal)
            fail(name, std::string("\"") + name +
                           "\" must be an ISBN-10 or ISBN-13 with a valid check digit");
        return normal;
    }

    std::optional<std::int64_t> book_id(const char* name) {
        const json* v = find(name);
        if (!v)
            return std::nullopt;
        if (!v->IsInt64() || v->GetInt64() <= 0) {
            fail(name, std::string("\"") + name + "\" must be a whole number above 0, or null");
            return std::nullopt;
        }
        return v->GetInt64();
    }

    std::optional<std::int64_t> whole_number(const char* name, std::int64_t min) {
        const json* v = find(name);
        if (!v)
            return std::nullopt;
        if (!v->IsInt64() || v->GetInt64() < min) {
            fail(name, std::string("\"") + name + "\" must be a whole number of at least " +
                           std::to_string(min));
            return std::nullopt;
        }
        return v->GetInt64();
    }

    std::optional<double> percent(const char* name) {
        const json* v = find(name);
        if (!v)
            return std::nullopt;
        if (!v->IsNumber() || !(v->GetDouble() >= 0 && v->GetDouble() <= 100)) {
            fail(name, std::string("\"") + name + "\" must be a number from 0 to 100 (percent)");
            return std::nullopt;
        }
        return v->GetDouble();
    }

    /// A time as ISO-8601 UTC text or integer epoch seconds.
    std::optional<std::int64_t> time(const char* name) {
        const json* v = find(name);
        if (!v)
            return std::nullopt;
        std::optional<std::int64_t> t;
        if (v->IsString())
            t = parse_iso_utc(std::string_view(v->GetString(), v->GetStringLength()));
        else if (v->IsInt64() && v->GetInt64() >= 0 && v->GetInt64() <= max_epoch_seconds)
            t = v->GetInt64();
        if (!t)
            fail(name, std::string("\"") + name +
                           "\" must be a UTC time like 2026-02-22T14:00:00Z or whole epoch "
                           "seconds");
        return t;
    }

    /// A location is opaque to the server: a page number, a CFI or an xpointer, sent as text.
    std::optional<std::string> location(const char* name) {
        const json* v = find(name);
        if (!v)
            return std::nullopt;
        if (v->IsNumber()) {
            char out[32];
            if (v->IsInt64())
                std::snprintf(out, sizeof out, "%lld", static_cast<long long>(v->GetInt64()));
            else
                std::snprintf(out, sizeof out, "%.17g", v->GetDouble());
            return std::string(out);
        }
        if (v->IsString())
            return text(name, max_location_length);
        fail(name, std::string("\"") + name + "\" must be a string or a number");
        return std::nullopt;
    }

    std::optional<std::string> book_type(const char* name) {
        auto v = text(name);
        if (!v)
            return std::nullopt;
        std::transform(v->begin(), v->end(), v->begin(),
                       [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
        if (std::find(book_types.begin(), book_types.end(), *v) == book_types.end()) {
            fail(name, std::string("\"") + name +
                           "\" must be one of PDF, EPUB, CBX, FB2, MOBI, AZW3, AUDIOBOOK");
            return std::nullopt;
        }
        return v;
    }

private:
    const json& body_;
    std::optional<field_error> error_;
};

template <typename T>
validated<T> finish(const fields& f, T&& record) {
    if (f.error())
        return *f.error();
    return std::forward<T>(record);
}

}  // namespace

std::string book_type_for_path(const std::string& file_path) {
    static constexpr std::pair<std::string_view, std::string_view> by_extension[] = {
        {"pdf", "PDF"},       {"epub", "EPUB"},      {"kepub", "EPUB"},    {"cbz", "CBX"},
        {"cbr", "CBX"},       {"cb7", "CBX"},        {"fb2", "FB2"},       {"mobi", "MOBI"},
        {"azw3", "AZW3"},     {"azw", "AZW3"},       {"m4b", "AUDIOBOOK"}, {"m4a", "AUDIOBOOK"},
        {"mp3", "AUDIOBOOK"}, {"opus", "AUDIOBOOK"},
    };
    auto slash = file_path.find_last_of('/');
    auto dot = file_path.find_last_of('.');
    if (dot == std::string::npos || (slash != std::string::npos && dot < slash))
        return "EPUB";
    std::string ext = file_path.substr(dot + 1);
    std::transform(ext.begin(), ext.end(), ext.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    for (auto [e, type] : by_extension)
        if (ext == e)
            return std::string(type);
    return "EPUB";
}

validated<storage::session_record> parse_session_end(const json& body) {
    fields f(body);
    storage::session_record r;
    for (const char* name : {"book_hash", "start_time", "end_time", "duration_seconds"})
        f.require(name);
    r.book_hash = f.book_hash("book_hash").value_or("");
    r.book_id = f.book_id("book_id");
    r.file_path = f.non_empty_text("file_path");
    r.book_title = f.text("title");
    r.isbn = f.isbn("isbn");
    auto type = f.book_type("book_type");
    auto start = f.time("start_time");
    auto end = f.time("end_time");
    auto duration = f.whole_number("duration_seconds", 0);
    r.start_progress = f.percent("start_progress");
    r.end_progress = f.percent("end_progress");
    r.start_location = f.location("start_location");
    r.end_location = f.location("end_location");
    r.event_id = f.non_empty_text("event_id");
    if (r.event_id && r.event_id->size() > max_event_id_length)
        f.fail("event_id", "\"event_id\" is longer than 64 characters");
    if (start && end && *end < *start)
        f.fail("end_time", "\"end_time\" is before \"start_time\"");
    if (start && end && duration && *end >= *start && *duration > *end - *start + 1)
        f.fail("duration_seconds",
               "\"duration_seconds\" is longer than the time between start_time and end_time");
    r.book_type = type ? *type : book_type_for_path(r.file_path.value_or(""));
    if (start && end && duration) {
        r.start_time = format_iso_utc(*start);
        r.end_time = format_iso_utc(*end);
        r.duration_seconds = *duration;
    }
    return finish(f, std::move(r));
}

validated<storage::deletion_record> parse_book_deleted(const json& body) {
    fields f(body);
    storage::deletion_record r;
    f.require("file_path");
    r.file_path = f.non_empty_text("file_path").value_or("");
    r.book_hash = f.book_hash("book_hash");
    r.book_id = f.book_id("book_id");
    r.event_id = f.non_empty_text("event_id");
    if (r.event_id && r.event_id->size() > max_event_id_length)
        f.fail("event_id", "\"event_id\" is longer than 64 characters");
    return finish(f, std::move(r));
}

validated<storage::book_sighting> parse_book_opened(const json& body) {
    fields f(body);
    storage::book_sighting r;
    f.require("file_path");
    f.require("book_hash");
    r.file_path = f.non_empty_text("file_path").value_or("");
    r.book_hash = f.book_hash("book_hash").value_or("");
    r.book_id = f.book_id("book_id");
    r.title = f.text("title");
    r.isbn = f.isbn("isbn");
    return finish(f, std::move(r));
}

}  // namespace booklore::syncd
