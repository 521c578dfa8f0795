#pragma once
// When syncs run: the trigger policy's decisions carried out with timers, the sync loop, and
// the answers about it (`sync_now`, `status`). The request handlers reach it as daemon_hooks.

#include "daemon/live_settings.hpp"
#include "daemon/requests/daemon_hooks.hpp"
#include "daemon/sync/sync_result.hpp"
#include "daemon/trigger_policy.hpp"
#include "storage/database.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>

namespace booklore::syncd {

class sync_scheduler final : public daemon_hooks {
public:
    using progress_fn = std::function<void(std::int64_t done, std::int64_t total)>;
    /// One sync run (the engine's); `manual` when a person asked for it (sync_now).
    using run_fn = std::function<boost::asio::awaitable<sync_result>(progress_fn, bool manual)>;
    /// Sends an event line to the subscribers; answers how many there are.
    using broadcast_fn = std::function<std::size_t(const ipc::message&)>;

    sync_scheduler(boost::asio::any_io_executor executor, live_settings& settings,
                   storage::database& db, run_fn run, broadcast_fn broadcast);

    /// A resume the daemon detected itself (`source` names the detector).
    void device_resumed(const char* source);
    void set_network(network_state state, const char* source);
    /// The settings changed: manual-only cancels an armed resume sync.
    void settings_changed();
    /// Records a result without a run (no server configured yet), for `status.last_sync`.
    void note_result(sync_result result) { last_sync_ = std::move(result); }
    /// Stops triggering; `done` runs once no sync is running any more.
    void stop(std::function<void()> done);
    bool sync_running() const { return policy_.sync_running(); }

    // daemon_hooks
    bool stopping() const override { return stopping_; }
    void session_queued() override;
    boost::asio::awaitable<ipc::message> sync_now(const ipc::request& req, bool wait) override;
    void describe_sync(ipc::message& status) override;
    boost::asio::awaitable<ipc::message> check_server(const ipc::request& req) override;
    std::optional<double> device_resumed() override;
    void device_suspended() override;
    network_state reader_network(network_state state) override;
    void announce(const ipc::message& event) override { broadcast_(event); }

private:
    void apply(trigger_policy::decision d);
    void arm_resume_sync();
    void announce_wifi_needed();
    boost::asio::awaitable<void> run_syncs();
    /// A run that ended (normally or by an exception): record it, wake the waiters.
    trigger_policy::decision finish_run(const sync_result& result);
    ipc::message network_down_reply(ipc::message reply);

    boost::asio::any_io_executor executor_;
    live_settings& settings_;
    storage::database& db_;
    run_fn run_;
    broadcast_fn broadcast_;
    trigger_policy policy_;
    boost::asio::steady_timer resume_timer_;
    /// Cancelled when a sync finishes: wakes every `sync_now` that waits for it.
    boost::asio::steady_timer sync_done_;
    std::optional<sync_result> last_sync_;
    std::uint64_t syncs_finished_ = 0;
    std::chrono::steady_clock::time_point last_resume_{};
    std::function<void()> on_stopped_;
    bool stopping_ = false;
    /// A sync_now came in: the next run may log in again after a refused login.
    bool manual_requested_ = false;
};

}  // namespace booklore::syncd
