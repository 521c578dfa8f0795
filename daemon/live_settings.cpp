#include "daemon/live_settings.hpp"

#include "config/md5.hpp"
#include "net/tls_context.hpp"
#include "net/url.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

namespace booklore::syncd {
namespace {

/// A switch `set_settings` may turn on or off: its key and where its value lives.
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

bool is_server_key(std::string_view key) {
    return std::find(config::server_keys.begin(), config::server_keys.end(), key) !=
           config::server_keys.end();
}

std::string changeable_keys() {
    std::string keys;
    for (const auto& s : switchables)
        keys += std::string(keys.empty() ? "" : ", ") + s.key;
    for (auto key : config::server_keys)
        keys += ", " + std::string(key);
    return keys;
}

/// What `set_settings` sends for a key, as it is stored: text, shelf ids as their digits, and
/// the KOReader password only as its MD5 (the only form the server ever needs).
std::pair<std::string, std::string> stored_form(std::string_view key, const rapidjson::Value& v) {
    std::string text = v.IsString()  ? std::string(v.GetString(), v.GetStringLength())
                       : v.IsInt64() ? std::to_string(v.GetInt64())
                                     : std::string();
    if (key == "password")
        return {"password_md5", text.empty() ? text : config::md5_hex(text)};
    return {std::string(key), text};
}

}  // namespace

std::optional<live_settings::refusal> usable_by_net(const config::settings& s) {
    if (!s.server_url.empty() && !net::parse_server_url(s.server_url))
        return live_settings::refusal{"server_url", "\"server_url\" is not a usable URL"};
    if (s.ca_file) {
        try {
            (void)net::make_client_tls_context(s.ca_file, false);
        } catch (const std::exception& e) {
            return live_settings::refusal{"ca_file", e.what()};
        }
    }
    return std::nullopt;
}

live_settings::live_settings(config::settings from_file, storage::database& db)
    : from_file_(std::move(from_file)), current_(from_file_), db_(db) {
    for (const auto& s : switchables) {
        auto stored = db_.get_setting(s.key);
        if (stored && *stored)
            current_.*s.value = **stored == "true";
    }
    for (auto key : config::server_keys) {
        auto stored = db_.get_setting(std::string(key));
        if (stored && *stored)
            stored_[std::string(key)] = **stored;
    }
    try {
        auto merged = with_overrides(stored_);
        for (const auto& s : switchables)
            merged.*s.value = current_.*s.value;
        current_ = std::move(merged);
    } catch (const config::config_error& e) {
        // The file changed under stored settings that no longer fit it: the file's own
        // values run, and the reader can set the server again.
        spdlog::warn("stored_settings_ignored error=\"{}\"", e.what());
    }
    if (holds_secret())
        if (auto r = db_.restrict_to_owner(); !r)
            spdlog::warn("database_mode_failed error=\"{}\"", r.error().message());
}

rapidjson::Document live_settings::overrides_json(
    const std::map<std::string, std::string>& stored) const {
    rapidjson::Document doc(rapidjson::kObjectType);
    auto& a = doc.GetAllocator();
    for (const auto& [key, value] : stored) {
        rapidjson::Value name(key.c_str(), a);
        if (key == "shelf_id")
            doc.AddMember(name, rapidjson::Value(static_cast<std::int64_t>(std::stoll(value))), a);
        else
            doc.AddMember(name, rapidjson::Value(value.c_str(), a), a);
    }
    return doc;
}

config::settings live_settings::with_overrides(
    const std::map<std::string, std::string>& stored) const {
    config::settings merged = from_file_;
    config::apply_server_keys(overrides_json(stored), merged, "set_settings");
    return merged;
}

live_settings::outcome live_settings::apply(const rapidjson::Value& request) {
    std::vector<std::pair<const switchable*, bool>> switches;
    auto stored = stored_;
    std::vector<storage::database::setting_change> changes;
    if (request.HasMember("password") && request.HasMember("password_md5"))
        return refusal{"password_md5",
                       "\"password_md5\" cannot be given together with "
                       "\"password\"; keep one"};
    for (auto it = request.MemberBegin(); it != request.MemberEnd(); ++it) {
        std::string key(it->name.GetString(), it->name.GetStringLength());
        if (key == "type" || key == "id")
            continue;
        if (const switchable* s = find_switchable(key)) {
            if (!it->value.IsBool())
                return refusal{key, "\"" + key + "\" must be true or false"};
            switches.emplace_back(s, it->value.GetBool());
            changes.push_back({key, it->value.GetBool() ? "true" : "false"});
            continue;
        }
        if (!is_server_key(key))
            return refusal{key,
                           "\"" + key + "\" cannot be changed here (" + changeable_keys() + ")"};
        bool shelf_number = key == "shelf_id" && it->value.IsInt64();
        bool removal = it->value.IsString() && it->value.GetStringLength() == 0;
        if (key == "shelf_id" ? !(shelf_number || removal) : !it->value.IsString())
            return refusal{key, "\"" + key + "\" must be " +
                                    (key == "shelf_id" ? "a whole number" : "a string")};
        auto [stored_key, text] = stored_form(key, it->value);
        // An empty string removes what was stored; the file's value, if any, applies again.
        if (text.empty())
            stored.erase(stored_key);
        else
            stored[stored_key] = text;
        changes.push_back({stored_key, text.empty() ? std::nullopt : std::optional(text)});
    }
    config::settings candidate;
    try {
        candidate = with_overrides(stored);
    } catch (const config::config_error& e) {
        return refusal{e.key(), e.what()};
    }
    if (auto refused = usable_by_net(candidate))
        return *refused;
    if (auto r = db_.store_settings(changes); !r)
        return r.error();
    bool server_changed = stored != stored_;
    for (const auto& s : switchables)
        candidate.*s.value = current_.*s.value;
    for (const auto& [s, on] : switches)
        candidate.*s->value = on;
    current_ = std::move(candidate);
    stored_ = std::move(stored);
    if (server_changed)
        ++server_generation_;
    if (holds_secret())
        if (auto r = db_.restrict_to_owner(); !r)
            spdlog::warn("database_mode_failed error=\"{}\"", r.error().message());
    spdlog::info(
        "settings_changed manual_sync_only={} ask_before_enabling_wifi={} server_changed={}",
        current_.manual_sync_only, current_.ask_before_enabling_wifi, server_changed);
    if (listener_)
        listener_();
    return std::monostate{};
}

bool live_settings::holds_secret() const {
    return stored_.count("password_md5") || stored_.count("booklore_password");
}

rapidjson::Value live_settings::to_json(rapidjson::Document::AllocatorType& a) const {
    auto text = [&a](const std::string& s) { return rapidjson::Value(s.c_str(), a); };
    rapidjson::Value s(rapidjson::kObjectType);
    s.AddMember("manual_sync_only", current_.manual_sync_only, a);
    s.AddMember("ask_before_enabling_wifi", current_.ask_before_enabling_wifi, a);
    s.AddMember("server_url", text(current_.server_url), a);
    s.AddMember("server_configured", server_configured(), a);
    s.AddMember("username", text(current_.username), a);
    s.AddMember("password_set", !current_.password_md5.empty(), a);
    s.AddMember("booklore_username",
                current_.booklore_username ? text(*current_.booklore_username)
                                           : rapidjson::Value(rapidjson::kNullType),
                a);
    s.AddMember("booklore_password_set", current_.booklore_password.has_value(), a);
    s.AddMember("deletion_mode", rapidjson::StringRef(config::to_string(current_.deletion)), a);
    if (current_.shelf_id)
        s.AddMember("shelf_id", *current_.shelf_id, a);
    else
        s.AddMember("shelf_id", rapidjson::Value(rapidjson::kNullType), a);
    s.AddMember("ca_file",
                current_.ca_file ? text(current_.ca_file->string())
                                 : rapidjson::Value(rapidjson::kNullType),
                a);
    s.AddMember("batch_size", current_.batch_size, a);
    s.AddMember("resume_sync_delay_seconds", current_.resume_sync_delay_seconds, a);
    s.AddMember("min_session_seconds", current_.min_session_seconds, a);
    return s;
}

}  // namespace booklore::syncd
