#include "daemon/sync/booklore_api.hpp"

#include <rapidjson/document.h>
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

bool is_json(std::string_view content_type) {
    return content_type.find("json") != std::string_view::npos;
}

std::optional<rapidjson::Document> parse_json(const http_answer& a) {
    if (!is_json(a.content_type))
        return std::nullopt;
    rapidjson::Document doc;
    doc.Parse(a.body.data(), a.body.size());
    if (doc.HasParseError())
        return std::nullopt;
    return doc;
}

bool is_2xx(unsigned status) {
    return status >= 200 && status < 300;
}

std::string message_of(const http_answer& a) {
    if (auto doc = parse_json(a); doc && doc->IsObject()) {
        for (const char* field : {"message", "error", "detail"}) {
            auto it = doc->FindMember(field);
            if (it != doc->MemberEnd() && it->value.IsString())
                return it->value.GetString();
        }
    }
    if (a.content_type.find("html") != std::string_view::npos)
        return "an HTML page instead of JSON";
    return {};
}

bool mentions_book_not_found(const http_answer& a) {
    return message_of(a).find("Book not found") != std::string::npos;
}

std::optional<std::string> base64url_decode(std::string_view in) {
    std::string out;
    unsigned buffer = 0;
    int bits = 0;
    for (char c : in) {
        int v;
        if (c >= 'A' && c <= 'Z')
            v = c - 'A';
        else if (c >= 'a' && c <= 'z')
            v = c - 'a' + 26;
        else if (c >= '0' && c <= '9')
            v = c - '0' + 52;
        else if (c == '-' || c == '+')
            v = 62;
        else if (c == '_' || c == '/')
            v = 63;
        else if (c == '=')
            break;
        else
            return std::nullopt;
        buffer = (buffer << 6) | static_cast<unsigned>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((buffer >> bits) & 0xff));
        }
    }
    return out;
}

}  // namespace

std::string by_hash_path(std::string_view book_hash) {
    return "/api/koreader/books/by-hash/" + std::string(book_hash);
}

std::string book_path(std::int64_t book_id) {
    return "/api/v1/books/" + std::to_string(book_id);
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

upload_outcome classify_batch(const http_answer& a, std::size_t sent) {
    if (is_2xx(a.status)) {
        // A captive portal or a server without the endpoint can answer 200 with HTML.
        auto doc = parse_json(a);
        if (!doc || !doc->IsObject())
            return upload_outcome::no_batch_here;
        auto count = doc->FindMember("successCount");
        if (count != doc->MemberEnd() && count->value.IsInt64() &&
            count->value.GetInt64() != static_cast<std::int64_t>(sent))
            return upload_outcome::retry_later;
        bool has_summary = count != doc->MemberEnd() || doc->HasMember("results");
        return has_summary ? upload_outcome::stored : upload_outcome::no_batch_here;
    }
    switch (a.status) {
        case 404:
            return mentions_book_not_found(a) ? upload_outcome::book_not_found
                                              : upload_outcome::no_batch_here;
        case 403:
        case 405:
        case 500:
            return upload_outcome::no_batch_here;
        case 401:
            return upload_outcome::auth_refused;
        case 400:
            return upload_outcome::rejected;
        default:
            return upload_outcome::retry_later;
    }
}

upload_outcome classify_single(const http_answer& a) {
    if (is_2xx(a.status)) {
        // 202 with an empty body (B), or {"sessionId":n} (B0); HTML means no endpoint.
        if (a.body.empty() || parse_json(a))
            return upload_outcome::stored;
        return upload_outcome::retry_later;
    }
    switch (a.status) {
        case 401:
        case 403:
            return upload_outcome::auth_refused;
        case 404:
            return upload_outcome::book_not_found;
        case 400:
            return upload_outcome::rejected;
        default:
            return upload_outcome::retry_later;
    }
}

lookup classify_lookup(const http_answer& a) {
    lookup out;
    if (a.status == 401 || a.status == 403) {
        out.what = lookup::kind::auth_refused;
    } else if (a.status == 404) {
        out.what = lookup::kind::not_found;
    } else if (is_2xx(a.status)) {
        auto doc = parse_json(a);
        auto id =
            doc && doc->IsObject() ? doc->FindMember("id") : rapidjson::Value::MemberIterator{};
        if (!doc || !doc->IsObject() || id == doc->MemberEnd() || !id->value.IsInt64() ||
            id->value.GetInt64() <= 0) {
            // An older server's single-page app answers every unknown path with HTML.
            out.what = lookup::kind::unsupported;
            return out;
        }
        out.what = lookup::kind::found;
        out.book_id = id->value.GetInt64();
        auto file = doc->FindMember("primaryFile");
        if (file != doc->MemberEnd() && file->value.IsObject()) {
            auto type = file->value.FindMember("bookType");
            if (type != file->value.MemberEnd() && type->value.IsString())
                out.book_type = type->value.GetString();
        }
    }
    return out;
}

std::optional<bearer_token> parse_login(const http_answer& a) {
    auto doc = parse_json(a);
    if (!is_2xx(a.status) || !doc || !doc->IsObject())
        return std::nullopt;
    auto access = doc->FindMember("accessToken");
    if (access == doc->MemberEnd() || !access->value.IsString() ||
        access->value.GetStringLength() == 0)
        return std::nullopt;
    bearer_token token{access->value.GetString(), std::nullopt};
    std::string_view jwt = token.access_token;
    auto first = jwt.find('.');
    auto second = jwt.find('.', first + 1);
    if (first != std::string_view::npos && second != std::string_view::npos) {
        if (auto payload = base64url_decode(jwt.substr(first + 1, second - first - 1))) {
            rapidjson::Document claims;
            claims.Parse(payload->c_str(), payload->size());
            if (!claims.HasParseError() && claims.IsObject()) {
                auto exp = claims.FindMember("exp");
                if (exp != claims.MemberEnd() && exp->value.IsInt64())
                    token.expires_at = std::chrono::system_clock::time_point(
                        std::chrono::seconds(exp->value.GetInt64()));
            }
        }
    }
    return token;
}

bool deletion_done(const http_answer& a) {
    return is_2xx(a.status) || a.status == 404;
}

std::string describe(const http_answer& a) {
    std::string out = "HTTP " + std::to_string(a.status);
    std::string message = message_of(a);
    if (message.size() > 200)
        message.resize(200);
    if (!message.empty())
        out += ": " + message;
    return out;
}

}  // namespace booklore::syncd::booklore_api
