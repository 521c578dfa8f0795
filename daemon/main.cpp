// booklore-syncd: queues KOReader reading sessions and deletions, uploads them to BookLore.
#include "booklore/version.hpp"
#include "config/settings.hpp"
#include "daemon/app.hpp"
#include "daemon/live_settings.hpp"
#include "daemon/logging.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <fcntl.h>
#include <unistd.h>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>

namespace {

constexpr const char* usage =
    "Usage: booklore-syncd --config FILE [--check-config]\n"
    "       booklore-syncd --version | --help\n"
    "\n"
    "Queues KOReader reading sessions and book deletions received on a Unix socket in an\n"
    "SQLite database, and uploads them to a BookLore server. Stays in the foreground and logs\n"
    "to stderr (and to log_file when set).\n"
    "\n"
    "  --config FILE    the JSON configuration (see README)\n"
    "  --check-config   validate the configuration and exit (0 ok, 2 with the problem)\n"
    "  --version        print the version\n"
    "  --help           print this help\n"
    "\n"
    "Signals: SIGTERM/SIGINT stop cleanly, SIGHUP reopens the log file.\n";

/// SQLite must never get fd 0-2: a stray write to stderr would land in the database.
void ensure_standard_fds() {
    for (int fd = 0; fd <= 2; ++fd)
        if (fcntl(fd, F_GETFD) == -1)
            open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
}

}  // namespace

int main(int argc, char** argv) {
    std::string config_path;
    bool check_only = false;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            std::cout << usage;
            return 0;
        }
        if (arg == "--version") {
            std::cout << "booklore-syncd " << booklore::version << "\n";
            return 0;
        }
        if (arg == "--check-config") {
            check_only = true;
        } else if (arg == "--config" && i + 1 < argc) {
            config_path = argv[++i];
        } else if (arg.starts_with("--config=")) {
            config_path = arg.substr(9);
        } else {
            std::cerr << "booklore-syncd: unknown argument \"" << arg << "\"\n\n" << usage;
            return 2;
        }
    }
    if (config_path.empty()) {
        std::cerr << "booklore-syncd: --config FILE is required\n\n" << usage;
        return 2;
    }
    ensure_standard_fds();
    booklore::config::settings settings;
    try {
        settings = booklore::config::load_file(config_path);
    } catch (const booklore::config::config_error& e) {
        std::cerr << "booklore-syncd: configuration error: " << e.what() << "\n";
        return 2;
    }
    if (auto unusable = booklore::syncd::usable_by_net(settings)) {
        std::cerr << "booklore-syncd: configuration error: " << config_path << ": "
                  << unusable->message << "\n";
        return 2;
    }
    if (check_only) {
        std::cout << config_path << ": configuration ok\n";
        return 0;
    }
    std::signal(SIGPIPE, SIG_IGN);
    booklore::syncd::open_logs(settings.log_level, settings.log_file);

    try {
        boost::asio::io_context io(1);
        // Signals are caught before the socket exists: a client that sees the socket may stop
        // the daemon at once, and that must be a clean stop.
        boost::asio::signal_set stop_signals(io, SIGTERM, SIGINT);
        boost::asio::signal_set hangup(io, SIGHUP);
        booklore::syncd::app daemon(io, settings);
        daemon.start();
        stop_signals.async_wait([&](boost::system::error_code ec, int signal) {
            if (ec)
                return;
            spdlog::info("signal_received signal={}", strsignal(signal));
            hangup.cancel();
            daemon.shutdown([&io] { io.stop(); });
        });
        std::function<void(boost::system::error_code, int)> on_hangup =
            [&](boost::system::error_code ec, int) {
                if (ec)
                    return;
                booklore::syncd::open_logs(settings.log_level, settings.log_file);
                spdlog::info("log_reopened");
                hangup.async_wait(on_hangup);
            };
        hangup.async_wait(on_hangup);
        io.run();
    } catch (const std::exception& e) {
        spdlog::critical("daemon_failed error=\"{}\"", e.what());
        return 1;
    }
    spdlog::info("daemon_stopped");
    return 0;
}
