#include "ipc/reply.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace booklore::ipc {
namespace {

rapidjson::Value key_value(std::string_view key, rapidjson::Document::AllocatorType& alloc) {
    return rapidjson::Value(key.data(), static_cast<rapidjson::SizeType>(key.size()), alloc);
}

}  // namespace

const char* to_string(error_kind code) {
    switch (code) {
        case error_kind::invalid_json:
            return "invalid_json";
        case error_kind::invalid_request:
            return "invalid_request";
        case error_kind::invalid_field:
            return "invalid_field";
        case error_kind::unknown_type:
            return "unknown_type";
        case error_kind::too_large:
            return "too_large";
        case error_kind::confirmation_required:
            return "confirmation_required";
        case error_kind::storage_full:
            return "storage_full";
        case error_kind::storage_error:
            return "storage_error";
        case error_kind::unavailable:
            break;
    }
    return "unavailable";
}

message::message() {
    doc_.SetObject();
}

message message::ok() {
    message m;
    m.set("ok", true);
    return m;
}

message message::error(error_kind code, std::string_view text,
                       std::optional<std::string_view> field) {
    message m;
    m.set("ok", false);
    auto& alloc = m.allocator();
    rapidjson::Value err(rapidjson::kObjectType);
    err.AddMember("code", rapidjson::Value(to_string(code), alloc), alloc);
    err.AddMember("message", key_value(text, alloc), alloc);
    if (field)
        err.AddMember("field", key_value(*field, alloc), alloc);
    m.set("error", std::move(err));
    return m;
}

message message::event(std::string_view name) {
    message m;
    m.set("event", name);
    return m;
}

message& message::set(std::string_view key, rapidjson::Value&& value) {
    auto& alloc = allocator();
    if (auto it = doc_.FindMember(key_value(key, alloc)); it != doc_.MemberEnd())
        it->value = std::move(value);
    else
        doc_.AddMember(key_value(key, alloc), std::move(value), alloc);
    return *this;
}

message& message::set(std::string_view key, bool value) {
    return set(key, rapidjson::Value(value));
}

message& message::set(std::string_view key, std::int64_t value) {
    return set(key, rapidjson::Value(static_cast<int64_t>(value)));
}

message& message::set(std::string_view key, double value) {
    return set(key, rapidjson::Value(value));
}

message& message::set(std::string_view key, std::string_view value) {
    return set(key, key_value(value, allocator()));
}

message& message::set(std::string_view key, std::nullptr_t) {
    return set(key, rapidjson::Value(rapidjson::kNullType));
}

message& message::echo_id(const rapidjson::Value* id) {
    if (id)
        set("id", rapidjson::Value(*id, allocator()));
    return *this;
}

bool message::is_ok() const {
    auto it = doc_.FindMember("ok");
    return it != doc_.MemberEnd() && it->value.IsTrue();
}

std::string message::line() const {
    rapidjson::StringBuffer buffer;
    rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
    doc_.Accept(writer);
    std::string out(buffer.GetString(), buffer.GetSize());
    out.push_back('\n');
    return out;
}

}  // namespace booklore::ipc
