#pragma once
// The handlers of the request table, one per request type (INTERFACE.md "The socket protocol").

#include "daemon/requests/request_table.hpp"

namespace booklore::syncd::handlers {

using boost::asio::awaitable;

// The queue (queue_requests.cpp).
awaitable<ipc::message> session_end(request_context&, const ipc::request&, ipc::client_context&);
awaitable<ipc::message> book_deleted(request_context&, const ipc::request&, ipc::client_context&);
awaitable<ipc::message> book_opened(request_context&, const ipc::request&, ipc::client_context&);
awaitable<ipc::message> list_pending(request_context&, const ipc::request&, ipc::client_context&);
awaitable<ipc::message> clear_pending(request_context&, const ipc::request&, ipc::client_context&);

// Reading history (import_requests.cpp).
awaitable<ipc::message> import_history(request_context&, const ipc::request&, ipc::client_context&);

// The daemon's state and triggers (control_requests.cpp).
awaitable<ipc::message> sync_now(request_context&, const ipc::request&, ipc::client_context&);
awaitable<ipc::message> status(request_context&, const ipc::request&, ipc::client_context&);
awaitable<ipc::message> check_server(request_context&, const ipc::request&, ipc::client_context&);
awaitable<ipc::message> set_settings(request_context&, const ipc::request&, ipc::client_context&);
awaitable<ipc::message> subscribe(request_context&, const ipc::request&, ipc::client_context&);
awaitable<ipc::message> resume(request_context&, const ipc::request&, ipc::client_context&);
awaitable<ipc::message> suspend(request_context&, const ipc::request&, ipc::client_context&);
awaitable<ipc::message> network_up(request_context&, const ipc::request&, ipc::client_context&);
awaitable<ipc::message> network_down(request_context&, const ipc::request&, ipc::client_context&);
awaitable<ipc::message> wifi_answer(request_context&, const ipc::request&, ipc::client_context&);

/// `"enable"`/`"wait"`-style boolean field: absent, a boolean, or an error naming it
/// (control_requests.cpp).
std::optional<ipc::message> require_bool(const ipc::request& req, const char* name,
                                         std::optional<bool>& out);

/// The reply to a storage failure: `storage_full` or `storage_error`, nothing queued.
ipc::message storage_failure(const ipc::request& req, const boost::system::error_code& ec);

}  // namespace booklore::syncd::handlers
