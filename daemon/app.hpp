#pragma once

#include "config/settings.hpp"
#include "daemon/ingest_queue.hpp"
#include "daemon/resume_detector.hpp"
#include "daemon/sync_engine.hpp"
#include "daemon/sync_result.hpp"
#include "daemon/trigger_policy.hpp"
#include "ipc/server.hpp"
#include "net/netlink_monitor.hpp"
#include "storage/database.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <memory>
#include <optional>
#include <vector>

namespace booklore::syncd {

/// The daemon: the socket server, the queue database, the sync and what triggers it, wired
/// on one io_context.
class app {
public:
    app(boost::asio::io_context& io, config::settings settings);
    ~app();

    /// Opens the socket and starts listening for platform signals. Throws at start-up errors.
    void start();
    /// Stops accepting work; a running sync ends after its current request. `done` is called
    /// once nothing is left running.
    void shutdown(std::function<void()> done);

private:
    // Requests (app_requests.cpp).
    boost::asio::awaitable<ipc::message> handle(const ipc::request& req,
                                                ipc::client_context& client);
    boost::asio::awaitable<ipc::message> on_session_end(const ipc::request& req);
    boost::asio::awaitable<ipc::message> on_book_deleted(const ipc::request& req);
    boost::asio::awaitable<ipc::message> on_book_opened(const ipc::request& req);
    boost::asio::awaitable<ipc::message> on_sync_now(const ipc::request& req);
    ipc::message on_status(const ipc::request& req);
    ipc::message on_list_pending(const ipc::request& req);
    ipc::message on_clear_pending(const ipc::request& req);
    ipc::message on_set_settings(const ipc::request& req);
    ipc::message on_resume(const ipc::request& req);
    ipc::message storage_failure(const ipc::request& req, const boost::system::error_code& ec);
    void add_settings(ipc::message& reply);

    // Triggers and the sync (app.cpp).
    void apply(trigger_policy::decision d);
    void arm_resume_sync();
    void set_network(network_state state, const char* source);
    void device_resumed(const char* source);
    boost::asio::awaitable<void> run_syncs();
    void announce_wifi_needed();
    void load_stored_settings();
    boost::asio::awaitable<void> keep_watchdog_fed(std::chrono::microseconds interval);

    boost::asio::io_context& io_;
    config::settings settings_;
    storage::database db_;
    ingest_queue ingest_;
    ipc::server server_;
    trigger_policy policy_;
    sync_engine engine_;
    boost::asio::steady_timer resume_timer_;
    /// Cancelled when a sync finishes: wakes every `sync_now` that waits for it.
    boost::asio::steady_timer sync_done_;
    std::optional<sync_result> last_sync_;
    std::uint64_t syncs_finished_ = 0;
    net::netlink_monitor netlink_;
    resume_detector resume_detector_;
    boost::asio::steady_timer watchdog_timer_;
    std::chrono::steady_clock::time_point last_resume_{};
    std::function<void()> on_idle_after_shutdown_;
    bool shutting_down_ = false;
};

}  // namespace booklore::syncd
