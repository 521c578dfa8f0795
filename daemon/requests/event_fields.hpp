#pragma once

#include "storage/records.hpp"

#include <rapidjson/document.h>

#include <string>
#include <variant>

namespace booklore::syncd {

/// A field the client got wrong, with a message that says what is expected.
struct field_error {
    std::string field;
    std::string message;
};

template <typename T>
using validated = std::variant<T, field_error>;

/// Validates a `session_end` request (INTERFACE.md field rules) into a queue record:
/// hash lower-cased, book type upper-cased or derived from the file extension, times
/// normalised to `YYYY-MM-DDTHH:MM:SSZ`.
validated<storage::session_record> parse_session_end(const rapidjson::Value& body);

/// Validates a `book_deleted` request.
validated<storage::deletion_record> parse_book_deleted(const rapidjson::Value& body);

/// Validates a `book_opened` request.
validated<storage::book_sighting> parse_book_opened(const rapidjson::Value& body);

/// The server's book type for a file name: PDF, EPUB, CBX, FB2, MOBI, AZW3 or AUDIOBOOK;
/// EPUB when the extension says nothing.
std::string book_type_for_path(const std::string& file_path);

}  // namespace booklore::syncd
