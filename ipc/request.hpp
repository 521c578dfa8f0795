#pragma once

#include "ipc/reply.hpp"

#include <rapidjson/document.h>

#include <string>
#include <string_view>
#include <variant>

namespace booklore::ipc {

/// One parsed request line: a JSON object with a string "type".
class request {
public:
    explicit request(rapidjson::Document doc);

    const std::string& type() const { return type_; }
    const rapidjson::Value& body() const { return doc_; }
    /// The client's "id" (string or number), if it sent one.
    const rapidjson::Value* id() const;
    /// A field of the request, or nullptr when absent (JSON null counts as absent).
    const rapidjson::Value* field(const char* name) const;

    /// The reply skeletons with the id already echoed.
    message ok() const { return std::move(message::ok().echo_id(id())); }
    message error(error_kind code, std::string_view text,
                  std::optional<std::string_view> field = std::nullopt) const {
        return std::move(message::error(code, text, field).echo_id(id()));
    }

private:
    rapidjson::Document doc_;
    std::string type_;
};

/// Parses one line (without its newline). On failure returns the error reply to send.
std::variant<request, message> parse_request(std::string_view line);

}  // namespace booklore::ipc
