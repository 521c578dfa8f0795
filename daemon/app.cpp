#include "daemon/app.hpp"

#include "config/spawn_logged.hpp"
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
      engine_(io.get_executor(), settings_.current(), db_),
      server_(io.get_executor(), socket_options(settings_.current()),
              [this](const ipc::request& req, ipc::client_context& client) {
                  return router_.dispatch(req, client);
              }),
      scheduler_(
          io.get_executor(), settings_, db_,
          [this](sync_scheduler::progress_fn progress) { return engine_.run(std::move(progress)); },
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
    if (scheduler_.sync_running())
        engine_.stop();
    scheduler_.stop(std::move(done));
}

}  // namespace booklore::syncd
