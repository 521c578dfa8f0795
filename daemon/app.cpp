#include "daemon/app.hpp"

#include "daemon/sd_notify.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace booklore::syncd {
namespace asio = boost::asio;

namespace {

/// A kernel resume and the reader's `resume` for the same wake-up arrive within seconds of
/// each other; they count as one.
constexpr auto same_wake_window = std::chrono::seconds(10);

/// Kobo's auto-standby sleeps for seconds between page turns; only a real sleep is a wake-up.
constexpr auto min_kernel_sleep = std::chrono::seconds(30);

constexpr const char* wifi_message =
    "A sync is ready to run. Enable WiFi to upload pending sessions?";

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
      settings_(std::move(settings)),
      db_(storage::database::open(settings_.database)),
      ingest_(io.get_executor(), db_),
      server_(io.get_executor(), socket_options(settings_),
              [this](const ipc::request& req, ipc::client_context& client) {
                  return handle(req, client);
              }),
      engine_(io.get_executor(), settings_, db_),
      resume_timer_(io),
      sync_done_(io, asio::steady_timer::time_point::max()),
      netlink_(io.get_executor(),
               [this](bool usable) {
                   set_network(usable ? network_state::up : network_state::down, "netlink");
               }),
      resume_detector_(
          io.get_executor(), [this](std::chrono::milliseconds) { device_resumed("kernel"); },
          resume_detector_options{.min_sleep = min_kernel_sleep}),
      watchdog_timer_(io) {
    policy_.set_manual_only(settings_.manual_sync_only);
    load_stored_settings();
}

app::~app() = default;

void app::load_stored_settings() {
    // Settings changed over the socket are stored in the database and win over the file.
    auto manual = db_.get_setting("manual_sync_only");
    if (manual && *manual)
        policy_.set_manual_only(**manual == "true");
    auto ask = db_.get_setting("ask_before_enabling_wifi");
    if (ask && *ask)
        settings_.ask_before_enabling_wifi = **ask == "true";
}

void app::start() {
    server_.start();
    netlink_.start();
    resume_detector_.start();
    spdlog::info("daemon_ready socket={} database={} manual_sync_only={}",
                 settings_.socket.string(), settings_.database.string(), policy_.manual_only());
    systemd::ready();
    if (auto interval = systemd::watchdog_interval())
        asio::co_spawn(io_, keep_watchdog_fed(*interval), asio::detached);
}

asio::awaitable<void> app::keep_watchdog_fed(std::chrono::microseconds interval) {
    while (!shutting_down_) {
        systemd::watchdog();
        watchdog_timer_.expires_after(interval / 2);
        co_await watchdog_timer_.async_wait(asio::as_tuple(asio::use_awaitable));
    }
}

void app::shutdown(std::function<void()> done) {
    if (shutting_down_)
        return;
    shutting_down_ = true;
    spdlog::info("daemon_stopping");
    systemd::stopping();
    server_.stop();
    netlink_.stop();
    resume_detector_.stop();
    resume_timer_.cancel();
    watchdog_timer_.cancel();
    sync_done_.cancel();
    if (policy_.sync_running()) {
        engine_.stop();
        on_idle_after_shutdown_ = std::move(done);
    } else {
        done();
    }
}

void app::apply(trigger_policy::decision d) {
    if (d.wifi_needed)
        announce_wifi_needed();
    if (d.start_sync)
        asio::co_spawn(io_, run_syncs(), asio::detached);
}

void app::announce_wifi_needed() {
    spdlog::info("wifi_needed subscribers={} ask={}", server_.subscriber_count(),
                 settings_.ask_before_enabling_wifi);
    auto event = ipc::message::event("wifi_needed");
    event.set("ask", settings_.ask_before_enabling_wifi).set("message", wifi_message);
    server_.broadcast(event);
}

void app::set_network(network_state state, const char* source) {
    if (state == policy_.network())
        return;
    spdlog::info("network_changed state={} source={}", to_string(state), source);
    if (state == network_state::up && policy_.resume_armed())
        resume_timer_.cancel();
    apply(policy_.network_changed(state));
}

void app::device_resumed(const char* source) {
    auto now = std::chrono::steady_clock::now();
    bool same_wake = last_resume_.time_since_epoch().count() != 0 &&
                     now - last_resume_ < same_wake_window && std::string_view(source) == "kernel";
    last_resume_ = now;
    if (same_wake) {
        spdlog::debug("device_resume_ignored reason=same_wake");
        return;
    }
    spdlog::info("device_resume source={}", source);
    if (!policy_.resumed())
        return;
    arm_resume_sync();
}

void app::arm_resume_sync() {
    resume_timer_.expires_after(std::chrono::milliseconds(
        static_cast<std::int64_t>(settings_.resume_sync_delay_seconds * 1000)));
    // A wait that already expired cannot be cancelled any more: its handler may still be
    // queued with success when a second resume re-arms the timer. The expiry it was armed
    // for tells such a stale wake-up from the current one (the delay restarts, it does not
    // fire early).
    resume_timer_.async_wait(
        [this, armed_for = resume_timer_.expiry()](boost::system::error_code ec) {
            if (ec || shutting_down_ || resume_timer_.expiry() != armed_for)
                return;  // Cancelled: restarted by another resume, a suspend, or the network.
            apply(policy_.resume_delay_elapsed());
        });
}

asio::awaitable<void> app::run_syncs() {
    for (;;) {
        server_.broadcast(ipc::message::event("sync_started"));
        sync_engine::progress_fn progress = [this](std::int64_t done, std::int64_t total) {
            auto event = ipc::message::event("sync_progress");
            event.set("done", done).set("total", total);
            server_.broadcast(event);
        };
        sync_result result = co_await engine_.run(std::move(progress));
        last_sync_ = result;
        // Uploaded rows moved out of the queue: give the WAL's space back to a small disk.
        if (auto done = db_.checkpoint(); !done)
            spdlog::warn("checkpoint_failed error=\"{}\"", done.error().message());
        ++syncs_finished_;
        sync_done_.cancel();
        auto finished = ipc::message::event("sync_finished");
        finished.set("result", to_json(result, finished.allocator()));
        server_.broadcast(finished);
        auto next = policy_.sync_finished(result.network == "unreachable");
        if (shutting_down_) {
            if (on_idle_after_shutdown_)
                std::exchange(on_idle_after_shutdown_, nullptr)();
            co_return;
        }
        if (next.wifi_needed)
            announce_wifi_needed();
        if (!next.start_sync)
            co_return;
    }
}

}  // namespace booklore::syncd
