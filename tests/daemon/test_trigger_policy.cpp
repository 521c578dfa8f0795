#include "daemon/trigger_policy.hpp"

#include <catch2/catch.hpp>

using booklore::syncd::network_state;
using booklore::syncd::trigger_policy;

namespace {
/// The policy reads the mode from its owner; here the owner is a flag of the test.
bool manual_only = false;
struct automatic_mode {
    automatic_mode() { manual_only = false; }
};
}  // namespace

TEST_CASE("a queued session starts a sync unless manual-only", "[unit][triggers]") {
    automatic_mode mode;
    trigger_policy p([] { return manual_only; });
    CHECK(p.session_queued().start_sync);
    CHECK(p.sync_running());
    CHECK_FALSE(p.sync_finished(false).start_sync);
    manual_only = true;
    CHECK_FALSE(p.session_queued().start_sync);
    CHECK(p.manual_sync().start_sync);
}

TEST_CASE("triggers during a sync cause at most one more", "[unit][triggers]") {
    automatic_mode mode;
    trigger_policy p([] { return manual_only; });
    REQUIRE(p.manual_sync().start_sync);
    for (int i = 0; i < 10; ++i) {
        CHECK_FALSE(p.session_queued().start_sync);
        CHECK_FALSE(p.manual_sync().start_sync);
    }
    CHECK(p.sync_finished(false).start_sync);
    CHECK_FALSE(p.sync_finished(false).start_sync);
    CHECK_FALSE(p.sync_running());
}

TEST_CASE("resume arms a delayed sync; suspend cancels it", "[unit][triggers]") {
    automatic_mode mode;
    trigger_policy p([] { return manual_only; });
    CHECK(p.resumed());
    CHECK(p.resume_armed());
    p.suspended();
    CHECK_FALSE(p.resume_armed());
    CHECK_FALSE(p.resume_delay_elapsed().start_sync);
    CHECK(p.resumed());
    CHECK(p.resume_delay_elapsed().start_sync);
    manual_only = true;
    CHECK_FALSE(p.resumed());
}

TEST_CASE("a down network prompts once per trigger and waits for network-up", "[unit][triggers]") {
    automatic_mode mode;
    trigger_policy p([] { return manual_only; });
    p.network_changed(network_state::down);
    auto d = p.session_queued();
    CHECK_FALSE(d.start_sync);
    CHECK(d.wifi_needed);
    CHECK(p.waiting_for_network());
    d = p.manual_sync();
    CHECK(d.wifi_needed);
    CHECK_FALSE(d.start_sync);
    CHECK(p.network_changed(network_state::up).start_sync);
    CHECK_FALSE(p.waiting_for_network());
    CHECK_FALSE(p.network_changed(network_state::up).start_sync);
}

TEST_CASE("network-up runs a pending wake sync at once", "[unit][triggers]") {
    automatic_mode mode;
    trigger_policy p([] { return manual_only; });
    p.network_changed(network_state::down);
    REQUIRE(p.resumed());
    auto d = p.network_changed(network_state::up);
    CHECK(d.start_sync);
    CHECK_FALSE(p.resume_armed());
}

TEST_CASE("network-up with nothing waiting does nothing", "[unit][triggers]") {
    automatic_mode mode;
    trigger_policy p([] { return manual_only; });
    p.network_changed(network_state::down);
    CHECK_FALSE(p.network_changed(network_state::up).start_sync);
    CHECK_FALSE(p.network_changed(network_state::unknown).start_sync);
}

TEST_CASE("a wake sync that could not reach the server waits for the network", "[unit][triggers]") {
    automatic_mode mode;
    trigger_policy p([] { return manual_only; });
    REQUIRE(p.resumed());
    REQUIRE(p.resume_delay_elapsed().start_sync);
    CHECK_FALSE(p.sync_finished(true).start_sync);
    CHECK(p.waiting_for_network());
    p.network_changed(network_state::down);
    CHECK(p.network_changed(network_state::up).start_sync);
    CHECK_FALSE(p.sync_finished(false).start_sync);
    CHECK_FALSE(p.waiting_for_network());
}

TEST_CASE("an unknown network state tries", "[unit][triggers]") {
    automatic_mode mode;
    trigger_policy p([] { return manual_only; });
    CHECK(p.network() == network_state::unknown);
    CHECK(p.manual_sync().start_sync);
}

// app::on_sync_now relies on these two: with the network down no run is owed to a trigger,
// so a waiting `sync_now` must answer instead of waiting for one.
TEST_CASE("a trigger during a sync with the network down prompts and owes no run",
          "[unit][triggers]") {
    automatic_mode mode;
    trigger_policy p([] { return manual_only; });
    REQUIRE(p.manual_sync().start_sync);
    p.network_changed(network_state::down);
    auto d = p.manual_sync();
    CHECK(d.wifi_needed);
    CHECK_FALSE(d.start_sync);
    CHECK(p.sync_running());
    auto after = p.sync_finished(false);
    CHECK_FALSE(after.start_sync);
    CHECK_FALSE(after.wifi_needed);  // the trigger was prompted for once already
    CHECK(p.waiting_for_network());
    CHECK(p.network_changed(network_state::up).start_sync);
}

TEST_CASE("the run owed after a sync becomes a prompt when the network went down",
          "[unit][triggers]") {
    automatic_mode mode;
    trigger_policy p([] { return manual_only; });
    REQUIRE(p.manual_sync().start_sync);
    CHECK_FALSE(p.session_queued().start_sync);  // one more run owed
    p.network_changed(network_state::down);
    auto after = p.sync_finished(false);
    CHECK_FALSE(after.start_sync);
    CHECK(after.wifi_needed);
    CHECK_FALSE(p.sync_running());
    CHECK(p.waiting_for_network());
}
