#pragma once
// The socket requests of INTERFACE.md, dispatched by a {type, handler} table.

#include "daemon/live_settings.hpp"
#include "daemon/requests/daemon_hooks.hpp"
#include "daemon/requests/ingest_queue.hpp"
#include "ipc/server.hpp"
#include "storage/database.hpp"

#include <boost/asio/awaitable.hpp>

#include <string_view>

namespace booklore::syncd {

/// Everything a handler may use.
struct request_context {
    storage::database& db;
    ingest_queue& ingest;
    live_settings& settings;
    daemon_hooks& daemon;
};

using request_fn = boost::asio::awaitable<ipc::message> (*)(request_context&, const ipc::request&,
                                                            ipc::client_context&);

struct request_entry {
    std::string_view type;
    request_fn handle;
};

/// Answers one request by its `type`; unknown types get `unknown_type`.
class request_router {
public:
    explicit request_router(request_context context) : context_(context) {}
    boost::asio::awaitable<ipc::message> dispatch(const ipc::request& req,
                                                  ipc::client_context& client);

private:
    request_context context_;
};

}  // namespace booklore::syncd
