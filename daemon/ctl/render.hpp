#pragma once

#include <rapidjson/document.h>

#include <string>

namespace booklore::ctl {

/// Human-readable forms of the daemon's replies.
std::string render_status(const rapidjson::Value& reply);
/// The seed's "View Details": a table of the queued sessions and deletions.
std::string render_pending(const rapidjson::Value& reply);
std::string render_sync_result(const rapidjson::Value& result);
std::string render_settings(const rapidjson::Value& settings);
/// One event line of `watch`.
std::string render_event(const rapidjson::Value& event);
/// `error.message` (and the field) of a failed reply.
std::string render_error(const rapidjson::Value& reply);

}  // namespace booklore::ctl
