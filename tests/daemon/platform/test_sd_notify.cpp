#include "daemon/platform/sd_notify.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>

namespace systemd = booklore::syncd::systemd;
using namespace std::chrono_literals;

namespace {

// A datagram socket standing in for systemd's notify socket.
class fake_manager {
public:
    /// `name` starting with '@' binds in the abstract namespace, otherwise it is a path.
    explicit fake_manager(const std::string& name) {
        fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        REQUIRE(fd_ >= 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        REQUIRE(name.size() < sizeof addr.sun_path);
        std::memcpy(addr.sun_path, name.data(), name.size());
        socklen_t len = sizeof addr.sun_family + name.size();
        if (name[0] == '@') {
            addr.sun_path[0] = '\0';
        } else {
            ++len;
        }
        REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) == 0);
        const timeval timeout{5, 0};  // a deadline, not a wait: data is normally already there
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    }
    ~fake_manager() { ::close(fd_); }

    std::optional<std::string> receive(int flags = 0) {
        char buf[512];
        const ssize_t n = ::recv(fd_, buf, sizeof buf, flags);
        if (n < 0) {
            return std::nullopt;
        }
        return std::string(buf, static_cast<std::size_t>(n));
    }

private:
    int fd_ = -1;
};

struct temp_dir {
    std::filesystem::path path;
    temp_dir() {
        char pattern[] = "/tmp/booklore-notify-XXXXXX";
        REQUIRE(::mkdtemp(pattern) != nullptr);
        path = pattern;
    }
    ~temp_dir() { std::filesystem::remove_all(path); }
};

}  // namespace

TEST_CASE("notify_to sends one datagram to a socket path") {
    temp_dir dir;
    const auto path = (dir.path / "notify").string();
    fake_manager manager(path);
    REQUIRE_FALSE(systemd::notify_to(path, "READY=1\nSTATUS=started"));
    CHECK(manager.receive() == "READY=1\nSTATUS=started");
}

TEST_CASE("notify_to reaches an abstract socket named with '@'") {
    const std::string name = "@booklore-notify-test-" + std::to_string(::getpid());
    fake_manager manager(name);
    REQUIRE_FALSE(systemd::notify_to(name, "WATCHDOG=1"));
    CHECK(manager.receive() == "WATCHDOG=1");
}

TEST_CASE("the helpers write the protocol's keys to $NOTIFY_SOCKET") {
    temp_dir dir;
    const auto path = (dir.path / "notify").string();
    fake_manager manager(path);
    ::setenv("NOTIFY_SOCKET", path.c_str(), 1);
    CHECK(systemd::notify_enabled());
    CHECK_FALSE(systemd::ready());
    CHECK(manager.receive() == "READY=1");
    CHECK_FALSE(systemd::watchdog());
    CHECK(manager.receive() == "WATCHDOG=1");
    CHECK_FALSE(systemd::status("syncing\n3 left"));
    CHECK(manager.receive() == "STATUS=syncing 3 left");
    CHECK_FALSE(systemd::stopping());
    CHECK(manager.receive() == "STOPPING=1");

    ::unsetenv("NOTIFY_SOCKET");
    CHECK_FALSE(systemd::notify_enabled());
    CHECK_FALSE(systemd::ready());  // not under systemd: nothing to do, no error
    CHECK_FALSE(manager.receive(MSG_DONTWAIT));
}

TEST_CASE("bad notify addresses are errors, not crashes") {
    CHECK(systemd::notify_to("", "READY=1"));
    CHECK(systemd::notify_to("relative/path", "READY=1"));
    CHECK(systemd::notify_to("vsock:2:1234", "READY=1"));
    CHECK(systemd::notify_to("/" + std::string(200, 'x'), "READY=1"));
    CHECK(systemd::notify_to("/nonexistent/booklore/notify", "READY=1"));
}

TEST_CASE("the watchdog interval follows sd_watchdog_enabled") {
    CHECK(systemd::parse_watchdog("30000000", nullptr, 10) == 30s);
    CHECK(systemd::parse_watchdog("30000000", "10", 10) == 30s);
    CHECK_FALSE(systemd::parse_watchdog("30000000", "11", 10));  // meant for another process
    CHECK_FALSE(systemd::parse_watchdog("30000000", "ten", 10));
    CHECK_FALSE(systemd::parse_watchdog(nullptr, nullptr, 10));
    CHECK_FALSE(systemd::parse_watchdog("0", nullptr, 10));
    CHECK_FALSE(systemd::parse_watchdog("", nullptr, 10));
    CHECK_FALSE(systemd::parse_watchdog("12x", nullptr, 10));
    CHECK_FALSE(systemd::parse_watchdog("-5", nullptr, 10));

    ::setenv("WATCHDOG_USEC", "120000000", 1);
    ::setenv("WATCHDOG_PID", std::to_string(::getpid()).c_str(), 1);
    CHECK(systemd::watchdog_interval() == 120s);
    ::unsetenv("WATCHDOG_PID");
    CHECK(systemd::watchdog_interval() == 120s);
    ::unsetenv("WATCHDOG_USEC");
    CHECK_FALSE(systemd::watchdog_interval());
}
