#pragma once

#include "storage/records.hpp"

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace booklore::syncd {

/// Paths and request bodies of BookLore's API (reference/server-contract.md); what the answers
/// mean is in server_answer.hpp.
namespace booklore_api {

inline constexpr std::string_view batch_path = "/api/v1/reading-sessions/batch";
inline constexpr std::string_view single_path = "/api/v1/reading-sessions";
inline constexpr std::string_view login_path = "/api/v1/auth/login";
inline constexpr std::string_view shelves_path = "/api/v1/books/shelves";

inline constexpr std::string_view books_path = "/api/v1/books";
inline constexpr std::string_view koreader_auth_path = "/api/koreader/users/auth";

std::string by_hash_path(std::string_view book_hash);
std::string book_path(std::int64_t book_id);
/// GET /api/v1/reading-sessions/book/{id}?page=&size= (newest first).
std::string sessions_of_book_path(std::int64_t book_id, std::int64_t page, std::int64_t size);

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

}  // namespace booklore_api
}  // namespace booklore::syncd
