#include "daemon/sync/sync_result.hpp"

namespace booklore::syncd {

const char* to_string(sync_result::reach r) {
    switch (r) {
        case sync_result::reach::down:
            return "down";
        case sync_result::reach::unreachable:
            return "unreachable";
        case sync_result::reach::up:
            break;
    }
    return "up";
}

rapidjson::Value to_json(const sync_result& r, rapidjson::Document::AllocatorType& a) {
    rapidjson::Value out(rapidjson::kObjectType);
    out.AddMember("sessions_uploaded", r.sessions_uploaded, a);
    out.AddMember("sessions_failed", r.sessions_failed, a);
    out.AddMember("sessions_unresolved", r.sessions_unresolved, a);
    out.AddMember("deletions_done", r.deletions_done, a);
    out.AddMember("deletions_failed", r.deletions_failed, a);
    out.AddMember("pending_sessions", r.pending_sessions, a);
    out.AddMember("pending_deletions", r.pending_deletions, a);
    out.AddMember("network", rapidjson::StringRef(to_string(r.network)), a);
    if (r.error)
        out.AddMember("error", rapidjson::Value(r.error->c_str(), a), a);
    if (r.at_least_once)
        out.AddMember("at_least_once", rapidjson::Value(r.at_least_once->c_str(), a), a);
    return out;
}

}  // namespace booklore::syncd
