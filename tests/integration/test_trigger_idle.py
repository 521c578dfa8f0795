"""An idle daemon does not wake up (issue 4): no polling timers. Takes about 65 s.

The daemon has done a sync (its keep-alive connection to the stand-in is open), a reader is
subscribed, and nothing else happens for 60 s. Its context switches (every thread, from
/proc/PID/task/*/status) may show at most one wake-up: one is left from the sync (a request
timer that expires request_timeout_seconds after the last request). Events from outside that
the daemon must see and logs (the wall clock set by someone, a network change) are not its
own polling: each such log line in the window allows one more wake-up.

tests/bench/idle_wakeups.py measures the same over 5 minutes, with CPU time.
"""

import os
import time
from pathlib import Path

from sync_fixtures import server_and_daemon
from test_triggers import BOOKS, Subscriber, queue, status

WINDOW_S = 60
# The stand-in drops an idle keep-alive connection after this long: inside the window.
SERVER_IDLE_TIMEOUT_S = 20
# Log lines of outside events that wake the daemon legitimately.
OUTSIDE_EVENTS = ("clock_changed", "device_resume", "network_usable")


def context_switches(pid):
    """(voluntary, involuntary) context switches of every thread of `pid`."""
    voluntary = involuntary = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            text = (task / "status").read_text()
        except FileNotFoundError:  # a thread that just ended
            continue
        for line in text.splitlines():
            if line.startswith("voluntary_ctxt_switches"):
                voluntary += int(line.split(":")[1])
            elif line.startswith("nonvoluntary_ctxt_switches"):
                involuntary += int(line.split(":")[1])
    return voluntary, involuntary


def settle(read, quiet=2.0, timeout=60.0):
    """Waits until `read()` holds still for `quiet` s."""
    deadline = time.monotonic() + timeout
    value, since = read(), time.monotonic()
    while time.monotonic() - since < quiet:
        if time.monotonic() > deadline:
            raise AssertionError("the daemon never went quiet")
        time.sleep(0.1)
        now = read()
        if now != value:
            value, since = now, time.monotonic()


def cpu_seconds(pid):
    """utime + stime of the whole process, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_an_idle_daemon_wakes_at_most_once_a_minute():
    config = {"manual_sync_only": False}
    with server_and_daemon("B", books=BOOKS, daemon_config=config,
                           idle_timeout=SERVER_IDLE_TIMEOUT_S) as (server, d):
        sub = Subscriber(d)
        queue(d, 0, 1)
        sub.wait("sync_finished")
        assert status(d)["sync"] == "idle"
        pid = d.process.pid
        threads = len(list(Path(f"/proc/{pid}/task").iterdir()))
        # The ends of the test's own connections are still being handled; then it is quiet.
        settle(lambda: context_switches(pid))
        log_before = len(d.log_text())
        (v0, i0), cpu_before = context_switches(pid), cpu_seconds(pid)
        start = time.monotonic()
        time.sleep(WINDOW_S)  # the measurement itself: a minute with nothing to do
        (v1, i1), cpu_after = context_switches(pid), cpu_seconds(pid)
        minutes = (time.monotonic() - start) / 60
        print(f"MEASURE idle {minutes * 60:.0f} s: {v1 - v0} voluntary + {i1 - i0} involuntary "
              f"context switches ({(v1 - v0 + i1 - i0) / minutes:.1f}/min, {threads} thread(s)), "
              f"CPU {(cpu_after - cpu_before) * 1000:.0f} ms")
        assert d.alive() and sub.count("<closed>") == 0
        window_log = d.log_text()[log_before:]
        outside = sum(window_log.count(name) for name in OUTSIDE_EVENTS)
        if outside:
            print(f"outside events in the window: {outside}\n{window_log}")
        # Each wake-up ends with one voluntary switch (back into epoll_wait); a preemption
        # while it ran would add an involuntary one.
        assert v1 - v0 <= 1 + outside, \
            f"the idle daemon woke up {v1 - v0} times in {WINDOW_S} s:\n{window_log}"
        assert i1 - i0 <= 1 + outside
        sub.close()
