#include "daemon/trigger_policy.hpp"

namespace booklore::syncd {

trigger_policy::decision trigger_policy::due(trigger why) {
    decision d;
    if (why == trigger::resume)
        wake_sync_pending_ = true;
    if (network_ == network_state::down) {
        // No request is sent while the network is down: ask for WiFi once per trigger and
        // wait for network-up.
        waiting_for_network_ = true;
        d.wifi_needed = true;
        return d;
    }
    if (running_) {
        rerun_ = true;
        return d;
    }
    running_ = true;
    waiting_for_network_ = false;
    d.start_sync = true;
    return d;
}

trigger_policy::decision trigger_policy::session_queued() {
    return manual_only_() ? decision{} : due(trigger::session_end);
}

trigger_policy::decision trigger_policy::manual_sync() {
    return due(trigger::manual);
}

bool trigger_policy::resumed() {
    if (manual_only_())
        return false;
    resume_armed_ = true;
    return true;
}

void trigger_policy::suspended() {
    resume_armed_ = false;
}

trigger_policy::decision trigger_policy::resume_delay_elapsed() {
    if (!resume_armed_)
        return {};
    resume_armed_ = false;
    return due(trigger::resume);
}

trigger_policy::decision trigger_policy::network_changed(network_state state) {
    network_state before = network_;
    network_ = state;
    if (state != network_state::up || before == network_state::up)
        return {};
    if (resume_armed_) {
        // The wake sync does not wait out its delay once the network is there.
        resume_armed_ = false;
        return due(trigger::resume);
    }
    if (waiting_for_network_)
        return due(trigger::network_up);
    return {};
}

trigger_policy::decision trigger_policy::sync_finished(bool network_failed) {
    running_ = false;
    if (network_failed && wake_sync_pending_) {
        // The wake sync ran before the network was really there: try again on network-up.
        waiting_for_network_ = true;
    } else if (!network_failed) {
        wake_sync_pending_ = false;
    }
    if (rerun_) {
        rerun_ = false;
        return due(trigger::manual);
    }
    return {};
}

}  // namespace booklore::syncd
