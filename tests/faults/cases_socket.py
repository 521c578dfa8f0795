"""Fault cases on the Unix socket: 1,000 connections at once, clients sending one byte a second,
and a libFuzzer run over the line parser."""

import json
import os
import re
import selectors
import socket
import subprocess
import threading
import time
from pathlib import Path

import tools
from faultlib import HERE, LONG, Client, Events, check, make_daemon, send_sessions, wait_until


def _fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def _rss_kib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def flood(tmp, connections=1000):
    """1,000 connections at once: the daemon keeps max_connections (32) of them and answers the
    rest with `unavailable` and closes them; it stays up, answers the ones it kept and, once
    they are gone, new clients; it leaks no descriptor."""
    events = Events("flood")
    d = make_daemon(tmp, "flood", manual_sync_only=True)
    try:
        d.start()
        pid = d.process.pid
        fds_before, rss_before = _fds(pid), _rss_kib(pid)
        socks = []
        for _ in range(connections):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(str(d.socket))
            s.setblocking(False)
            socks.append(s)
        # Every refused connection gets one error line and EOF; the kept ones stay silent.
        answers = {}
        sel = selectors.DefaultSelector()
        for s in socks:
            sel.register(s, selectors.EVENT_READ)
            answers[s] = b""
        deadline = time.monotonic() + 15
        closed = set()
        quiet_since = time.monotonic()
        while time.monotonic() < deadline and len(closed) < connections:
            ready = sel.select(timeout=0.2)
            if not ready:
                # Done once the refusals are in and nothing moved for a second.
                if len(closed) >= connections - 32 and time.monotonic() - quiet_since > 1.0:
                    break
                continue
            quiet_since = time.monotonic()
            for key, _ in ready:
                s = key.fileobj
                try:
                    chunk = s.recv(4096)
                except BlockingIOError:
                    continue
                except ConnectionResetError:
                    chunk = b""
                if chunk:
                    answers[s] += chunk
                else:
                    sel.unregister(s)
                    closed.add(s)
        refused = [s for s in closed if b'"unavailable"' in answers[s]]
        kept = [s for s in socks if s not in closed]
        assert len(refused) + len(kept) == connections, (len(refused), len(kept), connections)
        assert 0 < len(kept) <= 32, f"{len(kept)} connections kept (max_connections is 32)"
        rss_peak = _rss_kib(pid)
        # The kept connections are served.
        for s in kept:
            s.setblocking(True)
            s.settimeout(10)
        acked_before = len(events.acked)
        for s in kept:
            req = events.new()
            s.sendall(json.dumps(req).encode() + b"\n")
            line = b""
            while not line.endswith(b"\n"):
                chunk = s.recv(4096)
                if not chunk:
                    break
                line += chunk
            events.answered(req, json.loads(line) if line else None)
        served = len(events.acked) - acked_before
        for s in socks:
            s.close()
        # New clients are served once the flood is gone, and no descriptor is left behind.
        send_sessions(d.socket, events, 20, clients=4)
        wait_until(lambda: _fds(pid) <= fds_before, timeout=10,
                   what="the daemon's descriptors to come back to where they were")
        return check("1,000 connections at once", events, d,
                     notes=f"{len(kept)} kept and served ({served}), {len(refused)} refused with "
                           f"'unavailable'; RSS {rss_before} → {rss_peak} KiB; fds back to "
                           f"{_fds(pid)}")
    finally:
        d.cleanup()


def slowloris(tmp, slow_clients=10, seconds=None):
    """Clients that send a session one byte a second: others must not wait for them, and the
    daemon drops each after idle_timeout_seconds (3 here) without a complete line."""
    seconds = seconds or (60 if LONG else 8)
    events = Events("slow")
    d = make_daemon(tmp, "slow", manual_sync_only=True, idle_timeout_seconds=3)
    try:
        d.start()
        dropped_after = []
        stop = threading.Event()

        def dribble():
            req = events.new()
            data = json.dumps(req).encode() + b"\n"
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(str(d.socket))
            began = time.monotonic()
            try:
                for byte in data:
                    if stop.is_set():
                        return
                    s.sendall(bytes([byte]))
                    s.settimeout(1.0)
                    try:
                        if s.recv(4096) == b"":
                            dropped_after.append(time.monotonic() - began)
                            return
                    except socket.timeout:
                        pass
            except (BrokenPipeError, ConnectionResetError):
                dropped_after.append(time.monotonic() - began)
            finally:
                s.close()

        slow = [threading.Thread(target=dribble) for _ in range(slow_clients)]
        for t in slow:
            t.start()
        # A normal client meanwhile: every reply comes at once.
        client = Client(d.socket, timeout=10)
        latencies = []
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            req = events.new()
            began = time.monotonic()
            events.answered(req, client.call(req))
            latencies.append(time.monotonic() - began)
            time.sleep(0.05)
        client.close()
        stop.set()
        for t in slow:
            t.join(5)
        worst = max(latencies)
        assert worst < 1.0, f"a normal client waited {worst:.2f} s behind the slow ones"
        assert len(dropped_after) == slow_clients, f"only {len(dropped_after)} slow clients dropped"
        assert all(2.5 <= t <= 6 for t in dropped_after), dropped_after
        return check("clients sending one byte a second", events, d,
                     notes=f"{slow_clients} slow clients dropped after "
                           f"{min(dropped_after):.1f}–{max(dropped_after):.1f} s (idle timeout 3 s); "
                           f"a normal client's {len(latencies)} sessions: worst reply "
                           f"{1000 * worst:.0f} ms")
    finally:
        d.cleanup()


def fuzz(tmp, seconds=None):
    """libFuzzer (ASan + UBSan) over ipc::parse_request and the event validators."""
    seconds = seconds or int(os.environ.get("BOOKLORE_FUZZ_SECONDS", 600 if LONG else 60))
    binary = tools.fuzzer_binary()
    if binary is None:
        raise AssertionError("no clang++ with libFuzzer (Debian: clang-14, libclang-rt-14-dev)")
    corpus = tools.OUT / "fuzz_corpus"  # kept between runs: it grows
    corpus.mkdir(parents=True, exist_ok=True)
    artifacts = Path(tmp) / "artifacts"
    artifacts.mkdir(exist_ok=True)
    env = dict(os.environ, UBSAN_OPTIONS=f"suppressions={HERE / 'ubsan.supp'}:halt_on_error=1:"
                                         "print_stacktrace=1",
               ASAN_OPTIONS="detect_leaks=1")
    proc = subprocess.run(
        [str(binary), f"-max_total_time={seconds}", "-max_len=70000", "-rss_limit_mb=1024",
         "-print_final_stats=1", f"-dict={HERE / 'fuzz_request.dict'}",
         f"-artifact_prefix={artifacts}/", str(corpus), str(HERE / "fuzz_seeds")],
        capture_output=True, text=True, env=env, timeout=seconds + 120)
    out = proc.stderr
    runs = re.search(r"stat::number_of_executed_units: (\d+)", out)
    crashes = sorted(p.name for p in artifacts.iterdir())
    if proc.returncode != 0 or crashes:
        raise AssertionError(f"the fuzzer found something (exit {proc.returncode}, {crashes}):\n"
                             + out[-4000:])
    from faultlib import Record
    return Record(case=f"libFuzzer on the line parser ({seconds} s)", acknowledged="-",
                  uploaded="-", queued="-", lost=0, twice="-", unexpected=0, integrity="ok",
                  alive=True, secrets=[],
                  notes=f"{int(runs.group(1)) if runs else '?'} inputs, no crash, no ASan/UBSan "
                        f"report; corpus {len(list(corpus.iterdir()))} files")


CASES = {
    "flood": flood,
    "slowloris": slowloris,
    "fuzz": fuzz,
}
