#include "daemon/sync/server_answer.hpp"

#include "config/isbn.hpp"

#include <rapidjson/document.h>

namespace booklore::syncd::sync {
namespace {

bool is_2xx(unsigned status) {
    return status >= 200 && status < 300;
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

std::optional<std::string> string_member(const rapidjson::Value& v, const char* name) {
    if (!v.IsObject())
        return std::nullopt;
    auto it = v.FindMember(name);
    if (it == v.MemberEnd() || !it->value.IsString())
        return std::nullopt;
    return std::string(it->value.GetString(), it->value.GetStringLength());
}

std::optional<std::int64_t> int_member(const rapidjson::Value& v, const char* name) {
    if (!v.IsObject())
        return std::nullopt;
    auto it = v.FindMember(name);
    if (it == v.MemberEnd() || !it->value.IsInt64())
        return std::nullopt;
    return it->value.GetInt64();
}

/// The application's own error body (`ErrorResponse`, §1.1) carries `message`; the security
/// layer answers with Spring Boot's `{error, path}` or nothing at all.
std::optional<std::string> app_message(const http_answer& a) {
    auto doc = parse_json(a);
    return doc ? string_member(*doc, "message") : std::nullopt;
}

/// "Book not found with ID: n" and "Book with hash h not found"; G's "Resource not found." is a
/// missing route, not a verdict on a book.
bool says_book_not_found(const http_answer& a) {
    auto message = app_message(a);
    return message &&
           (message->rfind("Book not found", 0) == 0 || message->rfind("Book with hash", 0) == 0);
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

std::optional<std::int64_t> jwt_expiry(std::string_view jwt) {
    auto first = jwt.find('.');
    auto second = jwt.find('.', first == std::string_view::npos ? first : first + 1);
    if (second == std::string_view::npos)
        return std::nullopt;
    auto payload = base64url_decode(jwt.substr(first + 1, second - first - 1));
    if (!payload)
        return std::nullopt;
    rapidjson::Document claims;
    claims.Parse(payload->c_str(), payload->size());
    return claims.HasParseError() ? std::nullopt : int_member(claims, "exp");
}

outcome of(outcome_kind kind, const http_answer& a) {
    return {kind, {}, describe(a)};
}

/// The batch's 200: all stored, per-item results (GrimmLink-style `status`), or a count that
/// does not add up, which leaves the rows in doubt for reconciliation.
outcome classify_batch_success(const http_answer& a, std::size_t sent) {
    auto doc = parse_json(a);
    if (!doc || !doc->IsObject())
        return of(outcome_kind::no_batch_endpoint, a);
    auto count = int_member(*doc, "successCount");
    auto results = doc->FindMember("results");
    bool has_results = results != doc->MemberEnd() && results->value.IsArray();
    if (!count && !has_results)
        return of(outcome_kind::no_batch_endpoint, a);
    if (has_results && results->value.Size() == sent && results->value.Size() > 0 &&
        string_member(results->value[0], "status")) {
        outcome out = of(outcome_kind::partial, a);
        for (const auto& item : results->value.GetArray()) {
            auto status = string_member(item, "status");
            out.item_stored.push_back(status && (*status == "created" || *status == "duplicate"));
        }
        return out;
    }
    std::int64_t stored = count ? *count : static_cast<std::int64_t>(results->value.Size());
    return of(stored == static_cast<std::int64_t>(sent) ? outcome_kind::stored
                                                        : outcome_kind::unknown_outcome,
              a);
}

}  // namespace

outcome classify_upload(request_kind kind, const http_answer& a, std::size_t sent,
                        credentials used) {
    const bool batch = kind == request_kind::batch;
    if (is_2xx(a.status)) {
        if (batch)
            return classify_batch_success(a, sent);
        // 202 with an empty body (G, A, W, B) or {"sessionId":n} (B0); a page is not the API.
        return of(
            a.body.empty() || parse_json(a) ? outcome_kind::stored : outcome_kind::server_problem,
            a);
    }
    switch (a.status) {
        case 400:
            return of(outcome_kind::rejected, a);
        case 401:
            return of(used == credentials::koreader ? outcome_kind::needs_bearer
                                                    : outcome_kind::token_refused,
                      a);
        case 403:
            if (app_message(a))
                return of(outcome_kind::forbidden_book, a);
            return of(used == credentials::koreader ? outcome_kind::needs_bearer
                                                    : outcome_kind::bearer_not_accepted,
                      a);
        case 404:
            if (says_book_not_found(a))
                return of(outcome_kind::book_not_found, a);
            return of(batch ? outcome_kind::no_batch_endpoint : outcome_kind::server_problem, a);
        case 405:
        case 413:
        case 500:
            return of(batch             ? outcome_kind::no_batch_endpoint
                      : a.status == 500 ? outcome_kind::server_error
                                        : outcome_kind::server_problem,
                      a);
        case 409:
            return of(outcome_kind::account_unlinked, a);
        case 429:
        case 503:
            return of(outcome_kind::wait_requested, a);
        case 502:
        case 504:
            // The proxy may have handed the request on before the server went away.
            return of(outcome_kind::unknown_outcome, a);
        default:
            return of(a.status >= 500 ? outcome_kind::server_error : outcome_kind::rejected, a);
    }
}

outcome transport_failure(bool reached_server, std::string detail) {
    return {reached_server ? outcome_kind::unknown_outcome : outcome_kind::not_sent,
            {},
            std::move(detail)};
}

session_page classify_session_page(const http_answer& a, credentials used) {
    session_page out;
    out.detail = describe(a);
    if ((a.status == 401 || a.status == 403) && !app_message(a)) {
        out.what = used == credentials::koreader ? session_page::kind::needs_bearer
                                                 : session_page::kind::unreadable;
        return out;
    }
    if (a.status == 404) {
        out.what = says_book_not_found(a) ? session_page::kind::book_not_found
                                          : session_page::kind::server_problem;
        return out;
    }
    auto doc = parse_json(a);
    if (!is_2xx(a.status) || !doc || !doc->IsObject())
        return out;
    auto content = doc->FindMember("content");
    auto page = doc->FindMember("page");
    if (content == doc->MemberEnd() || !content->value.IsArray() || page == doc->MemberEnd())
        return out;
    auto number = int_member(page->value, "number");
    auto total = int_member(page->value, "totalPages");
    if (!number || !total)
        return out;
    for (const auto& item : content->value.GetArray()) {
        auto id = int_member(item, "id");
        auto start = string_member(item, "startTime");
        auto end = string_member(item, "endTime");
        auto duration = int_member(item, "durationSeconds");
        if (!id || !start || !end)
            return out;
        out.items.push_back({*id, *start, *end, duration.value_or(-1)});
    }
    out.what = session_page::kind::page;
    out.number = *number;
    out.total_pages = *total;
    return out;
}

hash_lookup classify_hash_lookup(const http_answer& a) {
    hash_lookup out;
    out.detail = describe(a);
    if (a.status == 401 || a.status == 403 || a.status == 409) {
        out.what = hash_lookup::kind::refused;
    } else if (a.status == 404) {
        out.what = says_book_not_found(a) ? hash_lookup::kind::not_found
                                          : hash_lookup::kind::server_problem;
    } else if (is_2xx(a.status)) {
        auto doc = parse_json(a);
        auto id = doc ? int_member(*doc, "id") : std::nullopt;
        if (!id || *id <= 0) {
            // G and A have no by-hash route: their single-page app answers it with HTML.
            out.what = hash_lookup::kind::unsupported;
            return out;
        }
        out.what = hash_lookup::kind::found;
        out.book_id = *id;
        auto file = doc->FindMember("primaryFile");
        if (file != doc->MemberEnd())
            out.book_type = string_member(file->value, "bookType");
    }
    return out;
}

book_list classify_book_list(const http_answer& a, credentials used) {
    book_list out;
    out.detail = describe(a);
    if (a.status == 401 || a.status == 403) {
        out.what = used == credentials::koreader ? book_list::kind::needs_bearer
                                                 : book_list::kind::token_refused;
        return out;
    }
    auto doc = parse_json(a);
    if (!is_2xx(a.status) || !doc || !doc->IsArray())
        return out;
    out.what = book_list::kind::list;
    for (const auto& book : doc->GetArray()) {
        auto id = int_member(book, "id");
        auto meta = book.IsObject() ? book.FindMember("metadata") : book.MemberEnd();
        if (!id || meta == book.MemberEnd())
            continue;
        std::optional<std::string> seen;
        for (const char* field : {"isbn13", "isbn10"}) {
            auto raw = string_member(meta->value, field);
            auto isbn = raw ? normalise_isbn(*raw) : std::nullopt;
            // A book whose ISBN-10 and ISBN-13 are the same number counts once.
            if (isbn && isbn != seen)
                out.isbns.emplace_back(*isbn, *id);
            seen = isbn;
        }
    }
    return out;
}

login_answer classify_login(const http_answer& a) {
    login_answer out;
    out.detail = describe(a);
    if (a.status == 429) {
        out.what = login_answer::kind::rate_limited;
        return out;
    }
    if (a.status == 400 || a.status == 401 || a.status == 403) {
        out.what = login_answer::kind::refused;
        return out;
    }
    auto doc = parse_json(a);
    auto token = doc && is_2xx(a.status) ? string_member(*doc, "accessToken") : std::nullopt;
    if (!token || token->empty())
        return out;
    out.what = login_answer::kind::token;
    out.access_token = *token;
    out.expires_at = jwt_expiry(*token);
    return out;
}

deletion_outcome classify_deletion(const http_answer& a, credentials used, bool unshelve) {
    if (is_2xx(a.status))
        return a.body.empty() || parse_json(a) ? deletion_outcome::done
                                               : deletion_outcome::server_problem;
    auto message = app_message(a);
    switch (a.status) {
        case 401:
        case 403:
            if (message && unshelve && a.status == 401)
                return deletion_outcome::shelf_refused;
            return used == credentials::koreader ? deletion_outcome::needs_bearer
                                                 : deletion_outcome::token_refused;
        case 404:
            // Only the application's own "not found" says the book is gone.
            return says_book_not_found(a) ? deletion_outcome::done
                                          : deletion_outcome::server_problem;
        case 405:
        case 500:
            // Real servers route DELETE /api/v1/books/{id} to GET /{id}: a 500 (§2.6).
            return unshelve ? deletion_outcome::failed : deletion_outcome::route_missing;
        default:
            return deletion_outcome::failed;
    }
}

bool answers_like_booklore(const http_answer& a) {
    return parse_json(a).has_value() || ((a.status == 401 || a.status == 403) && a.body.empty());
}

std::string describe(const http_answer& a) {
    std::string out = "HTTP " + std::to_string(a.status);
    std::string message;
    if (auto doc = parse_json(a)) {
        for (const char* field : {"message", "error", "detail"})
            if (auto m = string_member(*doc, field)) {
                message = *m;
                break;
            }
    } else if (a.content_type.find("html") != std::string_view::npos) {
        message = "an HTML page instead of JSON";
    }
    if (message.size() > 200)
        message.resize(200);
    if (!message.empty())
        out += ": " + message;
    return out;
}

}  // namespace booklore::syncd::sync
