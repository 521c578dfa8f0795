#pragma once

#include <rapidjson/document.h>

#include <cstdint>
#include <optional>
#include <string>

namespace booklore::syncd {

/// What one sync did; sent in `sync_finished`, the `sync_now` reply and `status.last_sync`.
struct sync_result {
    std::int64_t sessions_uploaded = 0;
    std::int64_t sessions_failed = 0;
    std::int64_t sessions_unresolved = 0;
    std::int64_t deletions_done = 0;
    std::int64_t deletions_failed = 0;
    std::int64_t pending_sessions = 0;
    std::int64_t pending_deletions = 0;
    /// Whether the server answered (`up` in JSON), no request was sent because the network
    /// was down (`down`), or requests could not reach the server (`unreachable`).
    enum class reach { up, down, unreachable } network = reach::up;
    /// Why the run stopped early (credentials refused, storage failure), if it did.
    std::optional<std::string> error;
    /// Why rows in doubt were sent again without checking the server's list (no BookLore
    /// account, an old fork): delivery is then at least once, not exactly once.
    std::optional<std::string> at_least_once;
    std::string finished_at;
};

/// `up`, `down` or `unreachable`.
const char* to_string(sync_result::reach r);

/// The result object of INTERFACE.md (`sync_now`, `sync_finished`, `status.last_sync`).
rapidjson::Value to_json(const sync_result& r, rapidjson::Document::AllocatorType& alloc);

}  // namespace booklore::syncd
