#pragma once

#include "config/settings.hpp"
#include "storage/database.hpp"

#include <rapidjson/document.h>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <optional>
#include <string>

namespace booklore::syncd {

/// What `check_server` found on the configured server (INTERFACE.md `check_server`).
struct server_check {
    bool reachable = false;
    /// The answers look like BookLore's API, not a web page or a proxy's 404.
    bool api_found = false;
    std::string koreader_account = "not_set";  ///< ok, refused, not_set
    std::string booklore_account = "not_set";  ///< ok, refused, not_set
    bool batch_endpoint = false;
    bool hash_lookup = false;
    /// The server lets the daemon read its sessions (exactly once rather than at least once).
    bool session_list = false;
    /// Why the server could not be reached, or the refusal's text.
    std::string detail;
};

/// Tries the server now with requests that change nothing there: the KOReader check, a login,
/// an empty batch (refused by validation where the endpoint exists), a random hash, an empty
/// page of sessions. Uses a connection of its own, so a running sync is not disturbed. A
/// manual request: it may log in after a refused login.
boost::asio::awaitable<server_check> check_server(boost::asio::any_io_executor executor,
                                                  const config::settings& settings,
                                                  storage::database& db);

/// What a person should change, in one message ("Everything works." when nothing).
std::string advice(const server_check& c, const config::settings& settings);

/// The `server` object of the reply.
rapidjson::Value to_json(const server_check& c, const config::settings& settings,
                         rapidjson::Document::AllocatorType& a);

}  // namespace booklore::syncd
