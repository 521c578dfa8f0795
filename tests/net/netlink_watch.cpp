// Test program for tests/integration/test_netlink.py: runs a netlink_monitor and prints one line
// "usable=0" or "usable=1" per report (the first one after the start-up dump). Logs go to stderr.
//
//   netlink_watch [--debounce-ms N]

#include "net/netlink_monitor.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

int main(int argc, char** argv) {
    booklore::net::netlink_monitor_options options;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--debounce-ms") == 0 && i + 1 < argc) {
            options.debounce = std::chrono::milliseconds(std::atoi(argv[++i]));
        } else {
            std::fprintf(stderr, "usage: %s [--debounce-ms N]\n", argv[0]);
            return 2;
        }
    }
    spdlog::set_default_logger(spdlog::stderr_logger_st("netlink_watch"));
    spdlog::set_level(spdlog::level::debug);

    boost::asio::io_context ioc{1};
    booklore::net::netlink_monitor monitor(
        ioc.get_executor(),
        [](bool usable) {
            std::printf("usable=%d\n", usable ? 1 : 0);
            std::fflush(stdout);
        },
        options);
    if (const auto ec = monitor.start()) {
        std::printf("unavailable %s\n", ec.message().c_str());
        return 1;
    }
    boost::asio::signal_set signals(ioc, SIGINT, SIGTERM);
    signals.async_wait([&](boost::system::error_code, int) { monitor.stop(); });
    ioc.run();
    return 0;
}
