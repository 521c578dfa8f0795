#pragma once

// The systemd notify protocol in a few lines, because Debian ships no static libsystemd: one
// datagram "KEY=value\n..." to the AF_UNIX socket named by $NOTIFY_SOCKET (platform.md §4.4).

#include <boost/system/error_code.hpp>

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string_view>

namespace booklore::syncd::systemd {

/// $NOTIFY_SOCKET is set: the service manager expects notifications (Type=notify).
bool notify_enabled();

/// Sends `state` (e.g. "READY=1") to $NOTIFY_SOCKET. Without the variable this does nothing and
/// succeeds, so callers need not care whether systemd runs them.
boost::system::error_code notify(std::string_view state);

/// Sends `state` to `address`: a path ("/run/systemd/notify") or an abstract name ("@name").
boost::system::error_code notify_to(std::string_view address, std::string_view state);

/// Start-up finished: the socket is listening.
boost::system::error_code ready();

/// Shutdown began, so systemd does not count the coming exit as a crash.
boost::system::error_code stopping();

/// Keep-alive for WatchdogSec=.
boost::system::error_code watchdog();

/// Free-form one-line status shown by `systemctl status`; newlines become spaces.
boost::system::error_code status(std::string_view text);

/// The watchdog timeout from $WATCHDOG_USEC when it is meant for this process (sd_watchdog_enabled
/// semantics); ping at half of it. nullopt when no watchdog is requested.
std::optional<std::chrono::microseconds> watchdog_interval();

/// The same decision from explicit values (null = unset), for tests.
std::optional<std::chrono::microseconds> parse_watchdog(const char* watchdog_usec,
                                                        const char* watchdog_pid, pid_t self);

}  // namespace booklore::syncd::systemd
