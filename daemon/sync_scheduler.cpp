#include "daemon/sync_scheduler.hpp"

#include "config/spawn_logged.hpp"
#include "config/utc_time.hpp"
#include "daemon/sync/server_check.hpp"
#include "daemon/sync/server_link.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <string_view>

namespace booklore::syncd {
namespace asio = boost::asio;

namespace {

/// A kernel resume and the reader's `resume` for the same wake-up arrive within seconds of
/// each other; they count as one.
constexpr auto same_wake_window = std::chrono::seconds(10);

constexpr const char* wifi_message =
    "A sync is ready to run. Enable WiFi to upload pending sessions?";

}  // namespace

sync_scheduler::sync_scheduler(asio::any_io_executor executor, live_settings& settings,
                               storage::database& db, run_fn run, broadcast_fn broadcast)
    : executor_(executor),
      settings_(settings),
      db_(db),
      run_(std::move(run)),
      broadcast_(std::move(broadcast)),
      policy_([&settings] { return settings.current().manual_sync_only; }),
      resume_timer_(executor),
      sync_done_(executor, asio::steady_timer::time_point::max()) {}

void sync_scheduler::apply(trigger_policy::decision d) {
    if (d.wifi_needed)
        announce_wifi_needed();
    if (d.start_sync)
        spawn_logged(executor_, run_syncs(), "sync", [this] {
            // The run threw: it counts as finished, so the daemon can sync again.
            sync_result failed;
            failed.error = "internal error during the sync; see the daemon's log";
            failed.finished_at = utc_now_iso();
            apply(finish_run(failed));
        });
}

void sync_scheduler::announce_wifi_needed() {
    bool ask = settings_.current().ask_before_enabling_wifi;
    auto event = ipc::message::event("wifi_needed");
    event.set("ask", ask).set("message", wifi_message);
    std::size_t subscribers = broadcast_(event);
    spdlog::info("wifi_needed subscribers={} ask={}", subscribers, ask);
}

void sync_scheduler::set_network(network_state state, const char* source) {
    if (state == policy_.network())
        return;
    spdlog::info("network_changed state={} source={}", to_string(state), source);
    if (state == network_state::up && policy_.resume_armed())
        resume_timer_.cancel();
    apply(policy_.network_changed(state));
}

void sync_scheduler::device_resumed(const char* source) {
    auto now = std::chrono::steady_clock::now();
    bool same_wake = last_resume_.time_since_epoch().count() != 0 &&
                     now - last_resume_ < same_wake_window && std::string_view(source) == "kernel";
    last_resume_ = now;
    if (same_wake) {
        spdlog::debug("device_resume_ignored reason=same_wake");
        return;
    }
    spdlog::info("device_resume source={}", source);
    if (policy_.resumed())
        arm_resume_sync();
}

void sync_scheduler::arm_resume_sync() {
    resume_timer_.expires_after(std::chrono::milliseconds(
        static_cast<std::int64_t>(settings_.current().resume_sync_delay_seconds * 1000)));
    // A wait that already expired cannot be cancelled any more: its handler may still be
    // queued with success when a second resume re-arms the timer. The expiry it was armed
    // for tells such a stale wake-up from the current one (the delay restarts, it does not
    // fire early).
    resume_timer_.async_wait(
        [this, armed_for = resume_timer_.expiry()](boost::system::error_code ec) {
            if (ec || stopping_ || resume_timer_.expiry() != armed_for)
                return;  // Cancelled: restarted by another resume, a suspend, or the network.
            apply(policy_.resume_delay_elapsed());
        });
}

void sync_scheduler::settings_changed() {
    if (settings_.current().manual_sync_only) {
        policy_.suspended();
        resume_timer_.cancel();
    }
}

void sync_scheduler::stop(std::function<void()> done) {
    stopping_ = true;
    resume_timer_.cancel();
    sync_done_.cancel();
    if (policy_.sync_running())
        on_stopped_ = std::move(done);
    else
        done();
}

asio::awaitable<void> sync_scheduler::run_syncs() {
    for (;;) {
        broadcast_(ipc::message::event("sync_started"));
        progress_fn progress = [this](std::int64_t done, std::int64_t total) {
            auto event = ipc::message::event("sync_progress");
            event.set("done", done).set("total", total);
            broadcast_(event);
        };
        sync_result result =
            co_await run_(std::move(progress), std::exchange(manual_requested_, false));
        // Uploaded rows moved out of the queue: give the WAL's space back to a small disk.
        if (auto done = db_.checkpoint(); !done)
            spdlog::warn("checkpoint_failed error=\"{}\"", done.error().message());
        auto next = finish_run(result);
        if (stopping_)
            co_return;
        if (next.wifi_needed)
            announce_wifi_needed();
        if (!next.start_sync)
            co_return;
    }
}

trigger_policy::decision sync_scheduler::finish_run(const sync_result& result) {
    last_sync_ = result;
    ++syncs_finished_;
    sync_done_.cancel();
    auto finished = ipc::message::event("sync_finished");
    finished.set("result", to_json(result, finished.allocator()));
    broadcast_(finished);
    auto next = policy_.sync_finished(result.network == sync_result::reach::unreachable);
    if (stopping_) {
        if (on_stopped_)
            std::exchange(on_stopped_, nullptr)();
        return {};
    }
    return next;
}

void sync_scheduler::session_queued() {
    apply(policy_.session_queued());
}

ipc::message sync_scheduler::network_down_reply(ipc::message reply) {
    auto counts = db_.counts();
    sync_result r;
    r.network = sync_result::reach::down;
    if (counts) {
        r.pending_sessions = counts->pending_sessions;
        r.pending_deletions = counts->pending_deletions;
    }
    reply.set("result", to_json(r, reply.allocator()));
    return reply;
}

asio::awaitable<ipc::message> sync_scheduler::sync_now(const ipc::request& req, bool wait) {
    bool was_running = policy_.sync_running();
    std::uint64_t finished_before = syncs_finished_;
    auto d = policy_.manual_sync();
    manual_requested_ = true;
    apply(d);
    ipc::message reply = req.ok();
    // Network down: no request is sent for this trigger (the reader was asked for WiFi), and
    // no run of its own is coming, even while another sync still runs.
    if (!d.start_sync && (!was_running || policy_.network() == network_state::down))
        co_return network_down_reply(std::move(reply.set("started", false)));
    reply.set("started", true);
    if (!wait)
        co_return reply;
    // A sync already running may have missed what was queued before this request: the one
    // that covers this request is the next to finish after it.
    std::uint64_t target = finished_before + (was_running ? 2 : 1);
    while (syncs_finished_ < target && !stopping_) {
        co_await sync_done_.async_wait(asio::as_tuple(asio::use_awaitable));
        // The run after the current one became a wait for the network (it went down
        // meanwhile): answer as if this request had come in with the network down.
        if (syncs_finished_ < target && !policy_.sync_running() && !stopping_)
            co_return network_down_reply(std::move(reply));
    }
    if (last_sync_)
        reply.set("result", to_json(*last_sync_, reply.allocator()));
    co_return reply;
}

asio::awaitable<ipc::message> sync_scheduler::check_server(const ipc::request& req) {
    ipc::message reply = req.ok();
    server_check found;
    if (policy_.network() == network_state::down)
        found.detail = "the network is down";
    else
        found = co_await booklore::syncd::check_server(executor_, settings_.current(), db_);
    reply.set("server", to_json(found, settings_.current(), reply.allocator()));
    co_return reply;
}

void sync_scheduler::describe_sync(ipc::message& status) {
    auto& a = status.allocator();
    status.set("network", to_string(policy_.network()))
        .set("sync", policy_.sync_running()                                    ? "running"
                     : policy_.resume_armed() || policy_.waiting_for_network() ? "scheduled"
                                                                               : "idle")
        .set("waiting_for_network", policy_.waiting_for_network())
        // Automatic syncs do not log in again until the settings change or a person asks.
        .set("login_refused", sync::login_refusal_remembered(settings_.current(), db_));
    if (policy_.resume_armed()) {
        auto left = resume_timer_.expiry() - asio::steady_timer::clock_type::now();
        double seconds = std::chrono::duration<double>(left).count();
        status.set("next_sync_in_seconds", seconds > 0 ? seconds : 0.0);
    } else {
        status.set("next_sync_in_seconds", nullptr);
    }
    if (last_sync_) {
        rapidjson::Value last(rapidjson::kObjectType);
        last.AddMember("time", rapidjson::Value(last_sync_->finished_at.c_str(), a), a);
        last.AddMember("result", to_json(*last_sync_, a), a);
        status.set("last_sync", std::move(last));
    } else {
        status.set("last_sync", nullptr);
    }
}

std::optional<double> sync_scheduler::device_resumed() {
    device_resumed("reader");
    if (!policy_.resume_armed())
        return std::nullopt;
    return settings_.current().resume_sync_delay_seconds;
}

void sync_scheduler::device_suspended() {
    policy_.suspended();
    resume_timer_.cancel();
    spdlog::info("device_suspend source=reader");
}

network_state sync_scheduler::reader_network(network_state state) {
    set_network(state, "reader");
    return policy_.network();
}

}  // namespace booklore::syncd
