#pragma once
// The settings that can change while the daemon runs: the one owner that loads them (the file,
// then what `set_settings` stored in the database, which wins), validates and stores a change,
// applies it, and reports it in `status`.

#include "config/settings.hpp"
#include "storage/database.hpp"

#include <rapidjson/document.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <variant>

namespace booklore::syncd {

class live_settings {
public:
    /// A change refused before anything was stored: `field` names the key.
    struct refusal {
        std::string field;
        std::string message;
    };
    /// Nothing (applied), a refusal, or the storage error that kept it from being stored.
    using outcome = std::variant<std::monostate, refusal, boost::system::error_code>;

    /// Loads the values stored in `db` over those of the file.
    live_settings(config::settings from_file, storage::database& db);

    /// The settings in force. The reference stays valid; its values change with apply().
    const config::settings& current() const { return current_; }
    /// Counts changes of the server or its accounts: a sync made for another count is stale.
    std::uint64_t server_generation() const { return server_generation_; }
    /// False until a server_url is set (in the file or over the socket).
    bool server_configured() const { return !current_.server_url.empty(); }

    /// Validates every field of a `set_settings` request (`type` and `id` excepted) as the
    /// configuration file is validated, then stores them in one transaction and applies them,
    /// or changes nothing. An empty string removes a stored server setting.
    outcome apply(const rapidjson::Value& request);

    /// `status.settings` and the `set_settings` reply: a secret shows only as `*_set: true`.
    rapidjson::Value to_json(rapidjson::Document::AllocatorType& a) const;

    /// Called after every applied change.
    void on_change(std::function<void()> listener) { listener_ = std::move(listener); }

private:
    /// The stored server settings as the JSON object config::apply_server_keys reads.
    rapidjson::Document overrides_json(const std::map<std::string, std::string>& stored) const;
    /// The file's settings with `stored` applied; throws config::config_error.
    config::settings with_overrides(const std::map<std::string, std::string>& stored) const;
    bool holds_secret() const;

    const config::settings from_file_;
    config::settings current_;
    storage::database& db_;
    /// The server settings stored over the socket, by key (`password` kept as its MD5).
    std::map<std::string, std::string> stored_;
    std::uint64_t server_generation_ = 0;
    std::function<void()> listener_;
};

/// Checks what the configuration's reading cannot: that the net layer takes the server URL and
/// loads the CA file, so that accepted settings never stop a sync. Used for the file (at start
/// and by --check-config) and for set_settings.
std::optional<live_settings::refusal> usable_by_net(const config::settings& s);

}  // namespace booklore::syncd
