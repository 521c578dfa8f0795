#include "daemon/platform/sd_notify.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

namespace booklore::syncd::systemd {

namespace {

namespace errc = boost::system::errc;

template <typename T>
std::optional<T> parse_number(const char* text) {
    if (text == nullptr || *text == '\0') {
        return std::nullopt;
    }
    T value{};
    const char* end = text + std::strlen(text);
    const auto [ptr, ec] = std::from_chars(text, end, value);
    if (ec != std::errc{} || ptr != end) {
        return std::nullopt;
    }
    return value;
}

// Closes the fd on every path out of notify_to.
struct fd_guard {
    int fd;
    ~fd_guard() {
        if (fd >= 0) {
            ::close(fd);
        }
    }
};

}  // namespace

bool notify_enabled() {
    const char* address = std::getenv("NOTIFY_SOCKET");
    return address != nullptr && *address != '\0';
}

boost::system::error_code notify(std::string_view state) {
    if (!notify_enabled()) {
        return {};
    }
    return notify_to(std::getenv("NOTIFY_SOCKET"), state);
}

boost::system::error_code notify_to(std::string_view address, std::string_view state) {
    sockaddr_un to{};
    to.sun_family = AF_UNIX;
    if (address.empty() || (address[0] != '/' && address[0] != '@')) {
        // systemd also knows "vsock:" addresses; a reader never runs in a VM.
        return errc::make_error_code(errc::address_family_not_supported);
    }
    if (address.size() >= sizeof to.sun_path) {
        return errc::make_error_code(errc::filename_too_long);
    }
    std::copy(address.begin(), address.end(), to.sun_path);
    socklen_t length = sizeof to.sun_family + address.size();
    if (address[0] == '@') {
        to.sun_path[0] = '\0';  // abstract namespace: the name is not NUL-terminated
    } else {
        length += 1;
    }
    fd_guard sock{::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)};
    if (sock.fd < 0) {
        return {errno, boost::system::system_category()};
    }
    // systemd drains its socket promptly; the timeout only bounds a wedged manager, since this
    // blocks the daemon's single thread.
    const timeval timeout{2, 0};
    ::setsockopt(sock.fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    const ssize_t sent = ::sendto(sock.fd, state.data(), state.size(), MSG_NOSIGNAL,
                                  reinterpret_cast<const sockaddr*>(&to), length);
    if (sent < 0) {
        return {errno, boost::system::system_category()};
    }
    return {};
}

boost::system::error_code ready() {
    return notify("READY=1");
}

boost::system::error_code stopping() {
    return notify("STOPPING=1");
}

boost::system::error_code watchdog() {
    return notify("WATCHDOG=1");
}

boost::system::error_code status(std::string_view text) {
    std::string state = "STATUS=";
    state += text;
    std::replace(state.begin(), state.end(), '\n', ' ');
    return notify(state);
}

std::optional<std::chrono::microseconds> watchdog_interval() {
    return parse_watchdog(std::getenv("WATCHDOG_USEC"), std::getenv("WATCHDOG_PID"), ::getpid());
}

std::optional<std::chrono::microseconds> parse_watchdog(const char* watchdog_usec,
                                                        const char* watchdog_pid, pid_t self) {
    const auto usec = parse_number<std::uint64_t>(watchdog_usec);
    if (!usec || *usec == 0) {
        return std::nullopt;
    }
    // WATCHDOG_PID names the process the watchdog is for; a child that inherited the
    // environment must not ping on its parent's behalf.
    if (watchdog_pid != nullptr) {
        const auto pid = parse_number<pid_t>(watchdog_pid);
        if (!pid || *pid != self) {
            return std::nullopt;
        }
    }
    return std::chrono::microseconds(*usec);
}

}  // namespace booklore::syncd::systemd
