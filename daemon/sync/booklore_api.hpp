#pragma once

#include "storage/records.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace booklore::syncd {

/// Request bodies and the meaning of BookLore's answers (reference/server-contract.md), with
/// no I/O so that every rule can be unit-tested.
namespace booklore_api {

inline constexpr std::string_view batch_path = "/api/v1/reading-sessions/batch";
inline constexpr std::string_view single_path = "/api/v1/reading-sessions";
inline constexpr std::string_view login_path = "/api/v1/auth/login";
inline constexpr std::string_view shelves_path = "/api/v1/books/shelves";

std::string by_hash_path(std::string_view book_hash);
std::string book_path(std::int64_t book_id);

/// "1:00:00" for 3600 seconds, as the plugin sends it.
std::string duration_formatted(std::int64_t seconds);

/// `{bookId, bookType, sessions:[...]}` for POST /api/v1/reading-sessions/batch.
std::string batch_body(std::int64_t book_id, std::string_view book_type,
                       std::span<const storage::pending_session> sessions);
/// The single-session body for POST /api/v1/reading-sessions.
std::string single_body(std::int64_t book_id, const storage::pending_session& session);
/// Unassigns the book from the shelf; all three sets are sent, as the server needs.
std::string unshelve_body(std::int64_t book_id, std::int64_t shelf_id);
std::string login_body(std::string_view username, std::string_view password);

/// What an answer to an upload means for the rows it carried.
enum class upload_outcome {
    stored,          ///< 2xx with the expected body: move the rows to historical_sessions
    no_batch_here,   ///< the batch endpoint is missing or refuses us: use single posts
    auth_refused,    ///< 401/403: stop the run with a clear error
    book_not_found,  ///< 404 for the book id: forget the id, resolve by hash again
    rejected,        ///< 400: the server refuses this content; count the attempt
    retry_later,     ///< 5xx, 429, 503 and other answers: count the attempt
};

struct http_answer {
    unsigned status = 0;
    std::string_view content_type;
    std::string_view body;
};

upload_outcome classify_batch(const http_answer& answer, std::size_t sent);
upload_outcome classify_single(const http_answer& answer);

/// The answer of GET /api/koreader/books/by-hash/{hash}.
struct lookup {
    enum class kind { found, not_found, unsupported, auth_refused, failed } what = kind::failed;
    std::int64_t book_id = 0;
    std::optional<std::string> book_type;  ///< primaryFile.bookType when the server says
};
lookup classify_lookup(const http_answer& answer);

/// A Bearer token from POST /api/v1/auth/login, with its expiry read from the JWT.
struct bearer_token {
    std::string access_token;
    std::optional<std::chrono::system_clock::time_point> expires_at;
};
std::optional<bearer_token> parse_login(const http_answer& answer);

/// The deletion answers: 2xx and 404 (already gone) remove the queued row.
bool deletion_done(const http_answer& answer);

/// A short, log-safe description of an answer for `last_error` ("HTTP 500: <message>").
std::string describe(const http_answer& answer);

}  // namespace booklore_api
}  // namespace booklore::syncd
