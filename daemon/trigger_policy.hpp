#pragma once

#include "daemon/network_state.hpp"

#include <chrono>
#include <functional>
#include <optional>

namespace booklore::syncd {

/// Decides when a sync runs (INTERFACE.md "Sync triggers"), without timers or sockets: the
/// daemon feeds it events and carries out what it answers. One sync at a time; triggers that
/// arrive during a sync cause at most one more.
class trigger_policy {
public:
    enum class trigger { session_end, resume, network_up, manual };

    /// What the daemon should do now.
    struct decision {
        bool start_sync = false;
        /// Tell subscribers `wifi_needed`: a sync is due and the network is down.
        bool wifi_needed = false;
    };

    /// `manual_only` answers whether automatic triggers only queue; the settings own it.
    explicit trigger_policy(std::function<bool()> manual_only)
        : manual_only_(std::move(manual_only)) {}

    /// A session was queued.
    decision session_queued();
    /// `sync_now`, the menu or the dispatcher action: runs in every mode.
    decision manual_sync();
    /// The device woke up: true when a delayed sync should be (re)armed.
    bool resumed();
    /// The device goes to sleep: the armed resume sync is cancelled.
    void suspended();
    /// The resume delay passed.
    decision resume_delay_elapsed();
    decision network_changed(network_state state);
    /// The running sync ended; `network_failed` when it could not reach the server at all.
    decision sync_finished(bool network_failed);

    bool sync_running() const { return running_; }
    bool resume_armed() const { return resume_armed_; }
    bool waiting_for_network() const { return waiting_for_network_; }
    network_state network() const { return network_; }

private:
    decision due(trigger why);

    std::function<bool()> manual_only_;
    bool running_ = false;
    bool rerun_ = false;
    bool resume_armed_ = false;
    bool waiting_for_network_ = false;
    /// The pending work includes a wake sync, which network-up must run at once.
    bool wake_sync_pending_ = false;
    network_state network_ = network_state::unknown;
};

}  // namespace booklore::syncd
