#include "daemon/sync/booklore_api.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdio>

namespace booklore::syncd::booklore_api {
namespace {

using writer = rapidjson::Writer<rapidjson::StringBuffer>;

void key(writer& w, const char* name) {
    w.Key(name);
}

void text(writer& w, const char* name, std::string_view value) {
    w.Key(name);
    w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
}

void optional_number(writer& w, const char* name, const std::optional<double>& v) {
    if (v) {
        w.Key(name);
        w.Double(*v);
    }
}

void optional_text(writer& w, const char* name, const std::optional<std::string>& v) {
    if (v)
        text(w, name, *v);
}

/// The fields every session carries, in the server's names and formats.
void session_fields(writer& w, const storage::pending_session& s) {
    text(w, "startTime", s.start_time);
    text(w, "endTime", s.end_time);
    key(w, "durationSeconds");
    w.Int64(s.duration_seconds);
    text(w, "durationFormatted", duration_formatted(s.duration_seconds));
    optional_number(w, "startProgress", s.start_progress);
    optional_number(w, "endProgress", s.end_progress);
    if (s.start_progress && s.end_progress) {
        key(w, "progressDelta");
        w.Double(*s.end_progress - *s.start_progress);
    }
    optional_text(w, "startLocation", s.start_location);
    optional_text(w, "endLocation", s.end_location);
}

}  // namespace

std::string by_hash_path(std::string_view book_hash) {
    return "/api/koreader/books/by-hash/" + std::string(book_hash);
}

std::string book_path(std::int64_t book_id) {
    return "/api/v1/books/" + std::to_string(book_id);
}

std::string sessions_of_book_path(std::int64_t book_id, std::int64_t page, std::int64_t size) {
    return "/api/v1/reading-sessions/book/" + std::to_string(book_id) +
           "?page=" + std::to_string(page) + "&size=" + std::to_string(size);
}

std::string duration_formatted(std::int64_t seconds) {
    char out[32];
    std::snprintf(out, sizeof out, "%lld:%02lld:%02lld", static_cast<long long>(seconds / 3600),
                  static_cast<long long>(seconds / 60 % 60), static_cast<long long>(seconds % 60));
    return out;
}

std::string batch_body(std::int64_t book_id, std::string_view book_type,
                       std::span<const storage::pending_session> sessions) {
    rapidjson::StringBuffer buffer;
    writer w(buffer);
    w.StartObject();
    key(w, "bookId");
    w.Int64(book_id);
    text(w, "bookType", book_type);
    key(w, "sessions");
    w.StartArray();
    for (const auto& s : sessions) {
        w.StartObject();
        session_fields(w, s);
        w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    return {buffer.GetString(), buffer.GetSize()};
}

std::string single_body(std::int64_t book_id, const storage::pending_session& session) {
    rapidjson::StringBuffer buffer;
    writer w(buffer);
    w.StartObject();
    key(w, "bookId");
    w.Int64(book_id);
    text(w, "bookType", session.book_type);
    session_fields(w, session);
    w.EndObject();
    return {buffer.GetString(), buffer.GetSize()};
}

std::string unshelve_body(std::int64_t book_id, std::int64_t shelf_id) {
    rapidjson::StringBuffer buffer;
    writer w(buffer);
    w.StartObject();
    key(w, "bookIds");
    w.StartArray();
    w.Int64(book_id);
    w.EndArray();
    key(w, "shelvesToAssign");
    w.StartArray();
    w.EndArray();
    key(w, "shelvesToUnassign");
    w.StartArray();
    w.Int64(shelf_id);
    w.EndArray();
    w.EndObject();
    return {buffer.GetString(), buffer.GetSize()};
}

std::string login_body(std::string_view username, std::string_view password) {
    rapidjson::StringBuffer buffer;
    writer w(buffer);
    w.StartObject();
    text(w, "username", username);
    text(w, "password", password);
    w.EndObject();
    return {buffer.GetString(), buffer.GetSize()};
}

}  // namespace booklore::syncd::booklore_api
