#!/usr/bin/python3
"""Wake-ups and CPU time of an idle booklore-syncd (issue 4's figures); not run in CI.

    BOOKLORE_BIN_DIR=build/daemon /usr/bin/python3 tests/bench/idle_wakeups.py [--seconds 300]

The daemon syncs once against the stand-in (so its keep-alive connection is open), a reader
stays subscribed, then nothing happens for --seconds. Printed: context switches of all its
threads (voluntary = times it blocked again after a wake-up; involuntary = preemptions while
running), per minute, and CPU time over the window (utime+stime, and the finer schedstat)
extrapolated to an hour.
--server-idle-timeout sets when the stand-in drops the idle connection (default: never within
the window), to count that wake-up too.
"""

import argparse
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "integration"))

from sync_fixtures import server_and_daemon  # noqa: E402
from test_triggers import BOOKS, Subscriber, queue, status  # noqa: E402


def switches(pid):
    voluntary = involuntary = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            text = (task / "status").read_text()
        except FileNotFoundError:
            continue
        for line in text.splitlines():
            if line.startswith("voluntary_ctxt_switches"):
                voluntary += int(line.split(":")[1])
            elif line.startswith("nonvoluntary_ctxt_switches"):
                involuntary += int(line.split(":")[1])
    return voluntary, involuntary


def settle(read, quiet=2.0, timeout=30.0):
    """Waits until `read()` holds still for `quiet` s: the last connections' ends are handled."""
    deadline = time.monotonic() + timeout
    value, since = read(), time.monotonic()
    while time.monotonic() - since < quiet:
        if time.monotonic() > deadline:
            raise AssertionError("the daemon never went quiet")
        time.sleep(0.1)
        now = read()
        if now != value:
            value, since = now, time.monotonic()


def cpu_ticks(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def cpu_ns(pid):
    """Time on CPU of every thread, in ns (/proc/PID/task/*/schedstat, first field): finer
    than the 10 ms ticks of utime+stime."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (FileNotFoundError, IndexError, ValueError):
            continue
    return total


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--server-idle-timeout", type=float, default=None)
    args = parser.parse_args()
    idle_timeout = args.server_idle_timeout or args.seconds + 120
    with server_and_daemon("B", books=BOOKS, daemon_config={"manual_sync_only": False},
                           idle_timeout=idle_timeout) as (server, d):
        sub = Subscriber(d)
        queue(d, 0, 1)
        sub.wait("sync_finished")
        assert status(d)["sync"] == "idle"
        pid = d.process.pid
        settle(lambda: switches(pid))
        (v0, i0), t0, n0 = switches(pid), cpu_ticks(pid), cpu_ns(pid)
        start = time.monotonic()
        time.sleep(args.seconds)
        (v1, i1), t1, n1 = switches(pid), cpu_ticks(pid), cpu_ns(pid)
        elapsed = time.monotonic() - start
        hz = os.sysconf("SC_CLK_TCK")
        cpu = (t1 - t0) / hz
        threads = len(list(Path(f"/proc/{pid}/task").iterdir()))
        print(f"idle window: {elapsed:.0f} s, {threads} thread(s), server idle timeout "
              f"{idle_timeout:.0f} s")
        print(f"context switches: {v1 - v0} voluntary, {i1 - i0} involuntary "
              f"= {(v1 - v0 + i1 - i0) / (elapsed / 60):.2f} per minute")
        print(f"CPU (utime+stime, {hz} ticks/s): {cpu * 1000:.0f} ms in the window "
              f"-> {cpu * 3600 / elapsed * 1000:.0f} ms per idle hour (extrapolated; "
              f"resolution {1000 / hz:.0f} ms)")
        print(f"CPU (schedstat): {(n1 - n0) / 1e3:.0f} us in the window -> "
              f"{(n1 - n0) / 1e6 * 3600 / elapsed:.2f} ms per idle hour (extrapolated)")
        sub.close()


if __name__ == "__main__":
    main()
