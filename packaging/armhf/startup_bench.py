#!/usr/bin/env python3
"""Start-up time of booklore-syncd with a large queue.

Fills a fresh database with N queued sessions through the socket protocol (using a fast daemon,
e.g. the native build), stops it, then starts the daemon under test (e.g. the armhf build through
qemu) on the same database several times and reports how long it takes until `status` answers
with all N sessions counted. Prints figures; asserts nothing beyond the count.

usage: startup_bench.py --bin-dir DIR [--native-bin-dir DIR] [--sessions N] [--runs R]
"""
import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time


def wait_for_socket(path, proc, deadline):
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"daemon exited with {proc.returncode}")
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(path)
            return s
        except OSError:
            s.close()
            time.sleep(0.005)
    raise RuntimeError("daemon did not listen in time")


def request(sock_file, msg):
    sock_file.write(json.dumps(msg) + "\n")
    sock_file.flush()
    return json.loads(sock_file.readline())


def start(binary, config, log):
    return subprocess.Popen([binary, "--config", config], stdin=subprocess.DEVNULL,
                            stdout=log, stderr=log)


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    rc = proc.wait(timeout=60)
    if rc != 0:
        raise RuntimeError(f"daemon exited with {rc} on SIGTERM")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin-dir", required=True, help="daemon under test (may be qemu wrappers)")
    ap.add_argument("--native-bin-dir", help="daemon used to fill the queue (default: --bin-dir)")
    ap.add_argument("--sessions", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    filler = os.path.join(args.native_bin_dir or args.bin_dir, "booklore-syncd")
    if not os.access(filler, os.X_OK):
        filler = os.path.join(args.bin_dir, "booklore-syncd")
    subject = os.path.join(args.bin_dir, "booklore-syncd")

    with tempfile.TemporaryDirectory() as work:
        sock_path = os.path.join(work, "syncd.sock")
        config = os.path.join(work, "config.json")
        with open(os.open(config, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            json.dump({"server_url": "http://127.0.0.1:9", "username": "u", "password": "p",
                       "database": os.path.join(work, "queue.sqlite"), "socket": sock_path,
                       "manual_sync_only": True}, f)
        log = open(os.path.join(work, "daemon.log"), "ab")

        t0 = time.monotonic()
        proc = start(filler, config, log)
        s = wait_for_socket(sock_path, proc, time.monotonic() + 60)
        f = s.makefile("rw")
        base = 1767225600
        for n in range(args.sessions):
            reply = request(f, {"type": "session_end", "book_hash": f"{n % 500:032x}",
                                "title": f"Book {n % 500}", "file_path": f"/books/{n % 500}.epub",
                                "start_time": base + n * 4000, "end_time": base + n * 4000 + 900,
                                "duration_seconds": 900, "start_progress": 1.0, "end_progress": 2.5,
                                "start_location": "10", "end_location": "14", "event_id": f"bench-{n}"})
            if not reply.get("queued"):
                raise RuntimeError(f"session {n} not queued: {reply}")
        request(f, {"type": "status"})  # fully started before it is stopped
        s.close()
        stop(proc)
        print(f"filled {args.sessions} sessions with {filler} in {time.monotonic() - t0:.1f} s")

        times = []
        for _ in range(args.runs):
            t0 = time.monotonic()
            proc = start(subject, config, log)
            s = wait_for_socket(sock_path, proc, t0 + 120)
            reply = request(s.makefile("rw"), {"type": "status"})
            elapsed = time.monotonic() - t0
            s.close()
            stop(proc)
            if reply.get("pending_sessions") != args.sessions:
                raise RuntimeError(f"status counted {reply.get('pending_sessions')}, expected {args.sessions}")
            times.append(elapsed)
        print(f"figure: start-up to first status reply with {args.sessions} queued sessions "
              f"({subject}): median {statistics.median(times) * 1000:.0f} ms, "
              f"min {min(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms over {args.runs} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
