#include "daemon/requests/request_table.hpp"

#include "daemon/requests/handlers.hpp"

#include <string>

namespace booklore::syncd {
namespace {

constexpr request_entry request_table[] = {
    {"session_end", handlers::session_end},
    {"book_deleted", handlers::book_deleted},
    {"book_opened", handlers::book_opened},
    {"sync_now", handlers::sync_now},
    {"status", handlers::status},
    {"check_server", handlers::check_server},
    {"list_pending", handlers::list_pending},
    {"clear_pending", handlers::clear_pending},
    {"set_settings", handlers::set_settings},
    {"subscribe", handlers::subscribe},
    {"resume", handlers::resume},
    {"suspend", handlers::suspend},
    {"network_up", handlers::network_up},
    {"network_down", handlers::network_down},
    {"wifi_answer", handlers::wifi_answer},
    {"import_history", handlers::import_history},
};

}  // namespace

boost::asio::awaitable<ipc::message> request_router::dispatch(const ipc::request& req,
                                                              ipc::client_context& client) {
    if (context_.daemon.stopping())
        co_return req.error(ipc::error_kind::unavailable, "the daemon is shutting down");
    for (const auto& entry : request_table)
        if (entry.type == req.type())
            co_return co_await entry.handle(context_, req, client);
    co_return req.error(ipc::error_kind::unknown_type,
                        "unknown request type \"" + req.type() + "\"", "type");
}

}  // namespace booklore::syncd
