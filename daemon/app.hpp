#pragma once

#include "config/settings.hpp"
#include "daemon/live_settings.hpp"
#include "daemon/platform/resume_detector.hpp"
#include "daemon/requests/ingest_queue.hpp"
#include "daemon/requests/request_table.hpp"
#include "daemon/sync/sync_engine.hpp"
#include "daemon/sync_scheduler.hpp"
#include "ipc/server.hpp"
#include "net/netlink_monitor.hpp"
#include "storage/database.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <functional>
#include <optional>

namespace booklore::syncd {

/// The daemon's parts wired on one io_context: the queue database, the settings, the socket
/// and its requests, the sync and what triggers it. Wiring only: each part owns its logic.
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
    /// The engine for the current server settings; null while no server is configured.
    sync_engine* engine();
    boost::asio::awaitable<sync_result> run_sync(sync_scheduler::progress_fn progress, bool manual);
    /// What a sync answers while no server is configured.
    sync_result unconfigured_result();
    boost::asio::awaitable<void> keep_watchdog_fed(std::chrono::microseconds interval);

    boost::asio::io_context& io_;
    storage::database db_;
    live_settings settings_;
    ingest_queue ingest_;
    /// Built at the first sync for the server settings in force (none until one is set).
    std::optional<sync_engine> engine_;
    std::uint64_t engine_generation_ = 0;
    ipc::server server_;
    sync_scheduler scheduler_;
    request_router router_;
    net::netlink_monitor netlink_;
    resume_detector resume_detector_;
    boost::asio::steady_timer watchdog_timer_;
};

}  // namespace booklore::syncd
