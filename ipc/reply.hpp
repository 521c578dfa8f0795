#pragma once

#include <rapidjson/document.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace booklore::ipc {

/// The error codes of the socket protocol (INTERFACE.md).
enum class error_kind {
    invalid_json,
    invalid_request,
    invalid_field,
    unknown_type,
    too_large,
    confirmation_required,
    storage_full,
    storage_error,
    unavailable,
};

const char* to_string(error_kind code);

/// A JSON object under construction: a reply (`{"ok":...}`) or an event line.
class message {
public:
    /// `{"ok":true}`, to which fields are added.
    static message ok();
    /// `{"ok":false,"error":{"code":C,"message":M,"field":F?}}`.
    static message error(error_kind code, std::string_view text,
                         std::optional<std::string_view> field = std::nullopt);
    /// `{"event":name}`, to which fields are added.
    static message event(std::string_view name);

    message& set(std::string_view key, bool value);
    message& set(std::string_view key, std::int64_t value);
    message& set(std::string_view key, int value) { return set(key, std::int64_t{value}); }
    message& set(std::string_view key, double value);
    message& set(std::string_view key, std::string_view value);
    message& set(std::string_view key, const char* value) {
        return set(key, std::string_view(value));
    }
    message& set(std::string_view key, std::nullptr_t);
    /// Takes `value` (built with allocator()).
    message& set(std::string_view key, rapidjson::Value&& value);
    template <typename T>
    message& set(std::string_view key, const std::optional<T>& value) {
        return value ? set(key, *value) : set(key, nullptr);
    }

    /// Copies the request's "id" into the reply, as the protocol promises.
    message& echo_id(const rapidjson::Value* id);

    rapidjson::Document::AllocatorType& allocator() { return doc_.GetAllocator(); }
    bool is_ok() const;

    /// One line of the protocol, newline included.
    std::string line() const;

private:
    message();
    rapidjson::Document doc_;
};

}  // namespace booklore::ipc
