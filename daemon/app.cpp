#include "daemon/app.hpp"

#include "config/spawn_logged.hpp"
#include "config/utc_time.hpp"
#include "daemon/platform/sd_notify.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace booklore::syncd {
namespace asio = boost::asio;

namespace {

/// Kobo's auto-standby sleeps for seconds between page turns; only a real sleep is a wake-up.
constexpr auto min_kernel_sleep = std::chrono::seconds(30);

ipc::server_options socket_options(const config::settings& s) {
    ipc::server_options o;
    o.socket_path = s.socket;
    o.group = s.socket_group;
    o.max_connections = static_cast<std::size_t>(s.max_connections);
    o.idle_timeout =
        std::chrono::milliseconds(static_cast<std::int64_t>(s.idle_timeout_seconds * 1000));
    return o;
}

}  // namespace

app::app(asio::io_context& io, config::settings settings)
    : io_(io),
      db_(storage::database::open(settings.database)),
      settings_(std::move(settings), db_),
      ingest_(io.get_executor(),
              [this](std::span<const storage::ingest_item> items) { return db_.enqueue(items); }),
      server_(io.get_executor(), socket_options(settings_.current()),
              [this](const ipc::request& req, ipc::client_context& client) {
                  return router_.dispatch(req, client);
              }),
      scheduler_(
          io.get_executor(), settings_, db_,
          [this](sync_scheduler::progress_fn progress, bool manual) {
              return run_sync(std::move(progress), manual);
          },
          [this](const ipc::message& event) {
              server_.broadcast(event);
              return server_.subscriber_count();
          }),
      router_(request_context{db_, ingest_, settings_, scheduler_}),
      netlink_(io.get_executor(),
               [this](bool usable) {
                   scheduler_.set_network(usable ? network_state::up : network_state::down,
                                          "netlink");
               }),
      resume_detector_(
          io.get_executor(),
          [this](std::chrono::milliseconds) { scheduler_.device_resumed("kernel"); },
          resume_detector_options{.min_sleep = min_kernel_sleep}),
      watchdog_timer_(io) {
    settings_.on_change([this] { scheduler_.settings_changed(); });
    if (!settings_.server_configured())
        scheduler_.note_result(unconfigured_result());
}

sync_engine* app::engine() {
    if (!settings_.server_configured())
        return nullptr;
    // Built for the server settings in force: a change over the socket takes effect at the
    // next sync (never during one: a run keeps the engine it started with).
    if (!engine_ || engine_generation_ != settings_.server_generation()) {
        engine_.emplace(io_.get_executor(), settings_.current(), db_);
        engine_generation_ = settings_.server_generation();
    }
    return &*engine_;
}

sync_result app::unconfigured_result() {
    sync_result r;
    r.error =
        "no server is configured: set the server in KOReader (Tools > BookLore Sync > "
        "Settings) or with booklore-syncctl settings --server-url URL";
    if (auto counts = db_.counts()) {
        r.pending_sessions = counts->pending_sessions;
        r.pending_deletions = counts->pending_deletions;
    }
    r.finished_at = utc_now_iso();
    return r;
}

asio::awaitable<sync_result> app::run_sync(sync_scheduler::progress_fn progress, bool manual) {
    sync_engine* current = engine();
    if (!current)
        co_return unconfigured_result();
    co_return co_await current->run(std::move(progress), manual);
}

app::~app() = default;

void app::start() {
    server_.start();
    netlink_.start();
    resume_detector_.start();
    const auto& s = settings_.current();
    spdlog::info("daemon_ready socket={} database={} manual_sync_only={}", s.socket.string(),
                 s.database.string(), s.manual_sync_only);
    systemd::ready();
    if (auto interval = systemd::watchdog_interval())
        spawn_logged(io_.get_executor(), keep_watchdog_fed(*interval), "watchdog");
}

asio::awaitable<void> app::keep_watchdog_fed(std::chrono::microseconds interval) {
    while (!scheduler_.stopping()) {
        systemd::watchdog();
        watchdog_timer_.expires_after(interval / 2);
        co_await watchdog_timer_.async_wait(asio::as_tuple(asio::use_awaitable));
    }
}

void app::shutdown(std::function<void()> done) {
    if (scheduler_.stopping())
        return;
    spdlog::info("daemon_stopping");
    systemd::stopping();
    server_.stop();
    netlink_.stop();
    resume_detector_.stop();
    watchdog_timer_.cancel();
    if (scheduler_.sync_running() && engine_)
        engine_->stop();
    scheduler_.stop(std::move(done));
}

}  // namespace booklore::syncd
