#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace booklore::syncd::sync {

/// What came back from one HTTP request, before anyone looked at it.
struct http_answer {
    unsigned status = 0;
    std::string_view content_type;
    std::string_view body;
};

/// The credentials a request carried.
enum class credentials { koreader, bearer };

/// What an answer means, independent of the server profile that gave it
/// (reference/server-contract.md §1.1, §1.2, §1.4). Only this file looks at raw statuses.
enum class outcome_kind {
    stored,               ///< every row stored (2xx with the expected body)
    partial,              ///< 200 with per-item results: `item_stored` says which
    rejected,             ///< 400: the server refuses this content
    needs_bearer,         ///< the security layer refused KOReader headers (401/403, no message)
    token_refused,        ///< 401 to a Bearer token: renew it once
    bearer_not_accepted,  ///< 403 to a Bearer token: this path wants KOReader headers (B0)
    forbidden_book,       ///< 403 ErrorResponse about this one book (W)
    book_not_found,       ///< the application's JSON 404 "Book not found"
    wait_requested,       ///< 429 or 503
    no_batch_endpoint,    ///< batch only: 2xx that is not the batch answer, 404, 405, 500
    account_unlinked,     ///< 409: the KOReader account has no BookLore user
    server_error,         ///< another 5xx: count the attempt
    server_problem,       ///< a 404 or HTML page that is not the application: wrong server_url
    unknown_outcome,      ///< no answer after the request may have reached the server
    not_sent,             ///< the request never left (connection refused, DNS)
    login_refused,        ///< POST /auth/login said the BookLore account is wrong
    login_rate_limited,   ///< POST /auth/login answered 429: the account is locked for now
    done,                 ///< a storage action the shell performed succeeded
};

struct outcome {
    outcome_kind kind = outcome_kind::done;
    /// For `partial`: one flag per row sent, in request order.
    std::vector<bool> item_stored;
    /// A short, log-safe description of the answer for last_error ("HTTP 403: ...").
    std::string detail;
};

enum class request_kind { batch, single };

/// An upload answer: `sent` rows were in the request, sent with `used` credentials.
outcome classify_upload(request_kind kind, const http_answer& a, std::size_t sent,
                        credentials used);

/// A transport failure: `reached_server` when the request may have been sent.
outcome transport_failure(bool reached_server, std::string detail);

/// One session the server holds (GET /api/v1/reading-sessions/book/{id}).
struct server_session {
    std::int64_t id = 0;
    std::string start_time;
    std::string end_time;
    std::int64_t duration_seconds = 0;
};

/// A page of the server's sessions of a book, newest start time first.
struct session_page {
    enum class kind {
        page,
        unreadable,
        needs_bearer,
        book_not_found,
        server_problem
    } what = kind::unreadable;
    std::vector<server_session> items;
    std::int64_t number = 0;
    std::int64_t total_pages = 0;
    std::string detail;
};
session_page classify_session_page(const http_answer& a, credentials used);

/// GET /api/koreader/books/by-hash/{hash}.
struct hash_lookup {
    enum class kind {
        found,
        not_found,
        unsupported,
        refused,
        server_problem,
        failed
    } what = kind::failed;
    std::int64_t book_id = 0;
    std::optional<std::string> book_type;  ///< primaryFile.bookType when the server says
    std::string detail;
};
hash_lookup classify_hash_lookup(const http_answer& a);

/// GET /api/v1/books: every book of the user with its ISBNs (every profile, Bearer).
struct book_list {
    enum class kind { list, needs_bearer, token_refused, unsupported } what = kind::unsupported;
    /// (ISBN-13, book id) for every ISBN a book carries; ISBN-10s are converted.
    std::vector<std::pair<std::string, std::int64_t>> isbns;
    std::string detail;
};
book_list classify_book_list(const http_answer& a, credentials used);

/// POST /api/v1/auth/login.
struct login_answer {
    enum class kind { token, refused, rate_limited, server_problem } what = kind::server_problem;
    std::string access_token;
    std::optional<std::int64_t> expires_at;  ///< epoch seconds, from the JWT's `exp`
    std::string detail;
};
login_answer classify_login(const http_answer& a);

/// A deletion report (seed DELETE /api/v1/books/{id}, or unshelving).
enum class deletion_outcome {
    done,            ///< 2xx, or the application's "Book not found": nothing left to delete
    route_missing,   ///< the server has no DELETE /api/v1/books/{id} (500, HTML)
    needs_bearer,    ///< the security layer refused KOReader headers
    token_refused,   ///< 401/403 to the Bearer token
    shelf_refused,   ///< 401 ErrorResponse: the shelf is not the user's
    server_problem,  ///< a 404 or HTML page that is not the application
    failed,          ///< anything else: count the attempt
};
deletion_outcome classify_deletion(const http_answer& a, credentials used, bool unshelve);

/// GET /api/koreader/users/auth answered like BookLore (JSON, or the security layer's refusal),
/// not like a web page: a 500 from every POST then is the server's, not a wrong base path.
bool answers_like_booklore(const http_answer& a);

/// "HTTP 500: <message>", at most ~200 characters of the server's text.
std::string describe(const http_answer& a);

}  // namespace booklore::syncd::sync
