#pragma once

// A socket-free stand-in for the five server profiles (reference/server-contract.md §1.2,
// §2.1, §2.2, §2.11), answering with the real status codes and bodies, and a driver that
// performs an upload_plan's actions against it as the sync engine's shell does.

#include "daemon/sync/upload_plan.hpp"

#include <algorithm>
#include <map>
#include <string>
#include <vector>

namespace plan_test {

using namespace booklore::syncd::sync;

enum class profile { G, A, W, B, B0 };
inline const std::vector<profile> all_profiles{profile::G, profile::A, profile::W, profile::B,
                                               profile::B0};
inline const char* name(profile p) {
    static const char* names[] = {"G", "A", "W", "B", "B0"};
    return names[static_cast<int>(p)];
}

struct canned {
    unsigned status;
    std::string content_type;
    std::string body;
    http_answer view() const { return {status, content_type, body}; }
};

inline canned spring_error(unsigned status, const char* error) {
    return {status, "application/json",
            R"({"timestamp":"2026-07-07T09:00:52.066Z","status":)" + std::to_string(status) +
                R"(,"error":")" + error + R"(","path":"/api/v1/reading-sessions"})"};
}
inline canned app_error(unsigned status, const std::string& message) {
    return {status, "application/json",
            R"({"status":)" + std::to_string(status) + R"(,"message":")" + message +
                R"(","timestamp":"2026-04-29T10:59:49.123456789"})"};
}

struct fake_server {
    explicit fake_server(profile which) : p(which) {}

    profile p;
    bool book_exists = true;
    bool book_accessible = true;
    /// Every answer to an upload is this, when set (faults: proxy 404, 429, 500, lost reply).
    std::optional<canned> upload_fault;
    /// The next upload is stored, but its reply is lost.
    int lose_replies = 0;
    std::vector<server_session> sessions;  ///< what the server holds for the book
    std::map<std::string, int> requests;   ///< "batch/ko" etc. -> count
    std::int64_t next_id = 1;

    /// The security layer's refusal, or nothing when the credentials pass on this path.
    std::optional<canned> security(const std::string& path, credentials c) const;
    canned upload(bool batch, credentials c, const std::vector<plan_row>& rows);
    canned list(credentials c, std::int64_t page, std::int64_t size);
};

/// What the shell did while performing a plan.
struct trace {
    std::vector<std::size_t> uploaded, reconciled, failed, in_doubt;
    std::vector<std::string> errors;
    std::vector<action_kind> kinds;
    bool did(action_kind k) const {
        return std::find(kinds.begin(), kinds.end(), k) != kinds.end();
    }
    std::optional<action> stopped;
    int renewals = 0;
    int reconcile_reads = 0;
};

/// Performs every action until `done` or `stop`. Lost replies come from
/// fake_server::lose_replies; `login_failure`, when set, is what every Bearer request gets
/// instead of an answer (the shell's login failed).
trace drive(upload_plan& plan, fake_server& server, std::optional<outcome> login_failure = {});

std::vector<plan_row> make_rows(std::size_t n, bool in_doubt = false);

}  // namespace plan_test
