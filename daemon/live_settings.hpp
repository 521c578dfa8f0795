#pragma once
// The settings that can change while the daemon runs: the one owner that loads them (the file,
// then what `set_settings` stored in the database, which wins), validates and stores a change,
// applies it, and reports it in `status`.

#include "config/settings.hpp"
#include "storage/database.hpp"

#include <rapidjson/document.h>

#include <functional>
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

    /// Validates every field of a `set_settings` request (`type` and `id` excepted), then
    /// stores and applies them all, or none.
    outcome apply(const rapidjson::Value& request);

    /// `status.settings` and the `set_settings` reply: never a secret.
    rapidjson::Value to_json(rapidjson::Document::AllocatorType& a) const;

    /// Called after every applied change.
    void on_change(std::function<void()> listener) { listener_ = std::move(listener); }

private:
    config::settings current_;
    storage::database& db_;
    std::function<void()> listener_;
};

}  // namespace booklore::syncd
