#include "net/netlink_monitor.hpp"

#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>
#include <boost/asio/io_context.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

namespace asio = boost::asio;
using namespace std::chrono_literals;
using booklore::net::netlink_monitor;
using booklore::net::netlink_monitor_options;

namespace {

// Runs handlers until `done` holds or the deadline passes; returns `done()`.
bool run_until(asio::io_context& ioc, const std::function<bool()>& done,
               std::chrono::steady_clock::duration limit = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < deadline) {
        ioc.restart();
        ioc.run_one_for(50ms);
    }
    return done();
}

// The scenario tests need their own network namespace, so they run in a forked child (unshare
// would move the whole test process, and the HTTP tests need the host's loopback).
constexpr int skipped = 77;

int in_new_netns(const std::function<int()>& scenario) {
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    if (pid == 0) {
        if (::unshare(CLONE_NEWNET) != 0) {
            std::perror("unshare(CLONE_NEWNET)");
            ::_exit(skipped);
        }
        if (std::system("ip -V >/dev/null 2>&1") != 0) {
            std::fprintf(stderr, "no iproute2\n");
            ::_exit(skipped);
        }
        int code = 1;
        try {
            code = scenario();
        } catch (const std::exception& e) {
            std::fprintf(stderr, "exception: %s\n", e.what());
        }
        std::fflush(nullptr);
        ::_exit(code);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

#define EXPECT(cond)                                                                \
    do {                                                                            \
        if (!(cond)) {                                                              \
            std::fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #cond); \
            return 1;                                                               \
        }                                                                           \
    } while (0)

bool sh(const std::string& command) {
    return std::system((command + " >/dev/null 2>&1").c_str()) == 0;
}

// Linux without the dummy module (like this CI) still has ifb, which behaves the same here.
bool add_plain_link(const std::string& name) {
    return sh("ip link add " + name + " type dummy") || sh("ip link add " + name + " type ifb");
}

}  // namespace

TEST_CASE("the monitor reports the start-up state once, then stops cleanly") {
    asio::io_context ioc{1};
    std::vector<bool> calls;
    netlink_monitor monitor(ioc.get_executor(), [&](bool usable) { calls.push_back(usable); });
    CHECK_FALSE(monitor.usable());
    const auto ec = monitor.start();
    if (ec) {
        WARN("netlink unavailable here: " << ec.message());
        CHECK_FALSE(monitor.available());
        CHECK(monitor.failure() == ec);
        return;
    }
    CHECK(monitor.available());
    REQUIRE(run_until(ioc, [&] { return !calls.empty(); }));
    CHECK(calls.size() == 1);
    CHECK(monitor.usable() == calls.front());
    CHECK(monitor.state().link_count() >= 1);  // at least lo

    monitor.stop();
    CHECK_FALSE(monitor.available());
    CHECK_FALSE(monitor.usable());
    // Nothing is left on the loop: no polling timer, no pending read.
    ioc.restart();
    const auto before = std::chrono::steady_clock::now();
    ioc.run_for(2s);
    CHECK(std::chrono::steady_clock::now() - before < 1s);
    CHECK(calls.size() == 1);
}

TEST_CASE("the monitor can be destroyed with its handlers still queued") {
    asio::io_context ioc{1};
    int calls = 0;
    {
        netlink_monitor monitor(ioc.get_executor(), [&](bool) { ++calls; });
        if (monitor.start()) {
            return;
        }
    }
    ioc.run_for(500ms);  // the aborted wait runs after the monitor is gone (ASan checks this)
    CHECK(calls == 0);
}

TEST_CASE("the monitor follows a network namespace through debounced changes") {
    const int code = in_new_netns([] {
        asio::io_context ioc{1};
        std::vector<bool> calls;
        netlink_monitor_options options;
        options.debounce = 50ms;
        netlink_monitor monitor(
            ioc.get_executor(), [&](bool u) { calls.push_back(u); }, options);
        EXPECT(!monitor.start());
        EXPECT(run_until(ioc, [&] { return calls.size() == 1; }));
        EXPECT(calls.back() == false);  // only lo, and it is down

        EXPECT(sh("ip link set lo up"));
        EXPECT(add_plain_link("n0"));
        EXPECT(sh("ip addr add 10.0.0.2/24 dev n0"));
        EXPECT(sh("ip link set n0 up"));
        EXPECT(sh("ip route add default via 10.0.0.1"));
        EXPECT(run_until(ioc, [&] { return calls.size() == 2; }));
        EXPECT(calls.back() == true);
        EXPECT(monitor.state().usable_interface() == "n0");

        // A flap shorter than the debounce is not reported at all.
        EXPECT(sh("ip route del default && ip route add default via 10.0.0.1"));
        EXPECT(sh("ip link del n0"));
        EXPECT(run_until(ioc, [&] { return calls.size() >= 3; }));
        EXPECT(calls.size() == 3);
        EXPECT(calls.back() == false);
        return 0;
    });
    if (code == skipped) {
        WARN("skipped: needs root for a network namespace and iproute2");
        return;
    }
    CHECK(code == 0);
}

TEST_CASE("lost netlink messages (ENOBUFS) rebuild the table from a fresh dump") {
    const int code = in_new_netns([] {
        asio::io_context ioc{1};
        std::vector<bool> calls;
        // The smallest receive buffer: a burst of events overflows it while the loop is busy.
        netlink_monitor_options options;
        options.debounce = 20ms;
        options.receive_buffer_bytes = 1;
        netlink_monitor monitor(
            ioc.get_executor(), [&](bool u) { calls.push_back(u); }, options);
        EXPECT(!monitor.start());
        EXPECT(run_until(ioc, [&] { return calls.size() == 1; }));
        EXPECT(monitor.resyncs() == 0);

        // Not running the loop while the kernel sends ~600 notifications.
        EXPECT(sh("ip link set lo up"));
        EXPECT(add_plain_link("n0"));
        EXPECT(sh("ip link set n0 up"));
        {
            std::ofstream batch("/tmp/booklore-netlink-batch");
            for (int i = 0; i < 300; ++i) {
                batch << "addr add 10.1." << i / 250 << '.' << (i % 250 + 1) << "/16 dev n0\n";
            }
            batch << "route add default via 10.1.0.254\n";
        }
        const bool batched = sh("ip -batch /tmp/booklore-netlink-batch");
        std::remove("/tmp/booklore-netlink-batch");
        EXPECT(batched);

        EXPECT(run_until(ioc, [&] { return calls.size() == 2; }));
        EXPECT(calls.back() == true);
        EXPECT(monitor.resyncs() >= 1);
        // The rebuilt table matches the kernel: 300 on n0, 127.0.0.1 and ::1 on lo.
        EXPECT(run_until(ioc, [&] { return monitor.state().address_count() >= 302; }));
        std::fprintf(stderr, "resyncs=%llu addresses=%zu\n",
                     static_cast<unsigned long long>(monitor.resyncs()),
                     monitor.state().address_count());
        return 0;
    });
    if (code == skipped) {
        WARN("skipped: needs root for a network namespace and iproute2");
        return;
    }
    CHECK(code == 0);
}
