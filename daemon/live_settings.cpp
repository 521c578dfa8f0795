#include "daemon/live_settings.hpp"

#include <spdlog/spdlog.h>

#include <optional>
#include <string_view>
#include <utility>
#include <vector>

namespace booklore::syncd {
namespace {

/// A setting `set_settings` may change: its key and where its value lives.
struct switchable {
    const char* key;
    bool config::settings::*value;
};

constexpr switchable switchables[] = {
    {"manual_sync_only", &config::settings::manual_sync_only},
    {"ask_before_enabling_wifi", &config::settings::ask_before_enabling_wifi},
};

const switchable* find_switchable(std::string_view key) {
    for (const auto& s : switchables)
        if (key == s.key)
            return &s;
    return nullptr;
}

std::string changeable_keys() {
    std::string keys;
    for (const auto& s : switchables)
        keys += std::string(keys.empty() ? "" : ", ") + s.key;
    return keys;
}

}  // namespace

live_settings::live_settings(config::settings from_file, storage::database& db)
    : current_(std::move(from_file)), db_(db) {
    for (const auto& s : switchables) {
        auto stored = db_.get_setting(s.key);
        if (stored && *stored)
            current_.*s.value = **stored == "true";
    }
}

live_settings::outcome live_settings::apply(const rapidjson::Value& request) {
    std::vector<std::pair<const switchable*, bool>> changes;
    for (auto it = request.MemberBegin(); it != request.MemberEnd(); ++it) {
        std::string key(it->name.GetString(), it->name.GetStringLength());
        if (key == "type" || key == "id")
            continue;
        const switchable* s = find_switchable(key);
        if (!s)
            return refusal{key,
                           "\"" + key + "\" cannot be changed here (" + changeable_keys() + ")"};
        if (!it->value.IsBool())
            return refusal{key, "\"" + key + "\" must be true or false"};
        changes.emplace_back(s, it->value.GetBool());
    }
    for (const auto& [s, on] : changes)
        if (auto stored = db_.put_setting(s->key, on ? "true" : "false"); !stored)
            return stored.error();
    for (const auto& [s, on] : changes)
        current_.*s->value = on;
    spdlog::info("settings_changed manual_sync_only={} ask_before_enabling_wifi={}",
                 current_.manual_sync_only, current_.ask_before_enabling_wifi);
    if (listener_)
        listener_();
    return std::monostate{};
}

rapidjson::Value live_settings::to_json(rapidjson::Document::AllocatorType& a) const {
    rapidjson::Value s(rapidjson::kObjectType);
    s.AddMember("manual_sync_only", current_.manual_sync_only, a);
    s.AddMember("ask_before_enabling_wifi", current_.ask_before_enabling_wifi, a);
    s.AddMember("server_url", rapidjson::Value(current_.server_url.c_str(), a), a);
    s.AddMember("deletion_mode", rapidjson::StringRef(config::to_string(current_.deletion)), a);
    s.AddMember("batch_size", current_.batch_size, a);
    s.AddMember("resume_sync_delay_seconds", current_.resume_sync_delay_seconds, a);
    s.AddMember("min_session_seconds", current_.min_session_seconds, a);
    return s;
}

}  // namespace booklore::syncd
