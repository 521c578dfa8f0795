#!/usr/bin/env python3
"""Plays systemd's side of Type=notify: runs a command with NOTIFY_SOCKET (and WATCHDOG_USEC)
set, waits for READY=1 and N watchdog pings, sends SIGTERM, and checks for STOPPING=1 and exit 0.

usage: notify_listen.py WORKDIR WATCHDOG_USEC PINGS -- COMMAND...
Prints what arrived; exit 0 if all was seen, 1 otherwise."""
import os
import signal
import socket
import subprocess
import sys
import time


def main():
    work, watchdog_usec, pings = sys.argv[1], sys.argv[2], int(sys.argv[3])
    cmd = sys.argv[sys.argv.index("--") + 1:]
    path = os.path.join(work, "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    env = dict(os.environ, NOTIFY_SOCKET=path, WATCHDOG_USEC=watchdog_usec)
    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL)
    env_pid = proc.pid
    seen, ready_at, watchdogs = [], None, 0
    started = time.monotonic()
    deadline = started + 30
    sock.settimeout(0.2)
    while time.monotonic() < deadline and (ready_at is None or watchdogs < pings):
        if proc.poll() is not None:
            break
        try:
            data = sock.recv(4096).decode()
        except socket.timeout:
            continue
        for line in data.splitlines():
            seen.append(line)
            if line == "READY=1" and ready_at is None:
                ready_at = time.monotonic() - started
            if line == "WATCHDOG=1":
                watchdogs += 1
    print(f"ready after {ready_at if ready_at is None else round(ready_at, 3)} s, {watchdogs} watchdog pings")
    ok = ready_at is not None and watchdogs >= pings
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        end = time.monotonic() + 30
        while time.monotonic() < end:
            try:
                data = sock.recv(4096).decode()
                seen.extend(data.splitlines())
            except socket.timeout:
                if proc.poll() is not None:
                    break
        rc = proc.wait(timeout=30)
    else:
        rc = proc.returncode
        ok = False
    print("messages:", sorted(set(seen)))
    print("exit code", rc, "(pid", env_pid, ")")
    stopping = "STOPPING=1" in seen
    if not stopping:
        print("no STOPPING=1")
    return 0 if ok and rc == 0 and stopping else 1


if __name__ == "__main__":
    sys.exit(main())
