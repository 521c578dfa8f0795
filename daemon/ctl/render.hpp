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
/// `sync_now`'s reply: the result, or that it started.
std::string render_sync_reply(const rapidjson::Value& reply);
/// `import_history`'s reply, or that it started.
std::string render_import(const rapidjson::Value& reply);
/// The `check_server` reply: one line per check, then what to change.
std::string render_check(const rapidjson::Value& reply);
/// A `sync_progress` or `import_progress` event as a bar on one line, to redraw in place.
std::string render_progress_bar(const rapidjson::Value& event);
/// One event line of `watch`.
std::string render_event(const rapidjson::Value& event);
/// `error.message` (and the field) of a failed reply.
std::string render_error(const rapidjson::Value& reply);

}  // namespace booklore::ctl
