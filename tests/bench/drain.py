"""Drain: 10,000 queued sessions over 50 books to the stand-in (TLS, 20 ms per request; profile
B by default, `--profile G` for Grimmory's single posts).

Next to it: the fewest requests the server contract allows (50 books x ceil(200/100) batches)
times the delay, and one new TLS connection per session the way the in-process KOReader plugin
uploads (a POST to /api/v1/reading-sessions with the KOReader headers, fresh connection and full
handshake each time), measured on a sample and extrapolated. Along the way: the daemon's memory
with 10,000 queued, its start-up time with them, and its peak memory during the drain.
"""

import http.client
import json
import math
import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path

from benchlib import (STANDIN, daemon_class, median, proc_cpu_seconds, proc_status, run_ingest,
                      wait_accepting)

BOOK_ID_BASE = 1000


def book_hash(index):
    return "%032x" % (index + 1)  # what bench_ingest sends for book `index`


def single_body(n, book):
    start = 1_800_000_000 + n * 3600
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start))
    end = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start + 600))
    return json.dumps({"bookId": BOOK_ID_BASE + book, "bookType": "EPUB", "startTime": iso,
                       "endTime": end, "durationSeconds": 600, "durationFormatted": "0:10:00",
                       "startProgress": 10.0, "endProgress": 12.5, "progressDelta": 2.5,
                       "startLocation": "10", "endLocation": "12"})


def per_connection_python(server, ca_file, sample, books):
    """One fresh TCP + TLS connection per session, in-process (no process start-up)."""
    context = ssl.create_default_context(cafile=ca_file)
    headers = dict(server.ko_headers(), **{"Content-Type": "application/json"})
    start = time.monotonic()
    for n in range(sample):
        conn = http.client.HTTPSConnection(server.host, server.port, context=context, timeout=30)
        conn.request("POST", "/api/v1/reading-sessions", body=single_body(n, n % books),
                     headers=headers)
        reply = conn.getresponse()
        reply.read()
        conn.close()
        if reply.status != 202:
            raise RuntimeError(f"single POST answered {reply.status}")
    return (time.monotonic() - start) / sample


def per_connection_curl(server, ca_file, sample, books):
    """The same with one curl process per session (includes curl's own start-up)."""
    if not shutil.which("curl") or sample <= 0:
        return None
    start = time.monotonic()
    for n in range(sample):
        status = subprocess.run(
            ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", ca_file,
             "-H", "Content-Type: application/json", "-H", "x-auth-user: " + server.ko_user,
             "-H", "x-auth-key: " + server.ko_key, "-d", single_body(100_000 + n, n % books),
             server.url + "/api/v1/reading-sessions"],
            capture_output=True, text=True, check=True).stdout
        if status != "202":
            raise RuntimeError(f"curl POST answered {status}")
    return (time.monotonic() - start) / sample


def restart_timed(d, env, restore_from=None):
    """SIGTERM, optionally put a saved database back, then exec again; returns the time from
    exec to the socket accepting a connection."""
    d.stop()
    if restore_from is not None:
        for suffix in ("-wal", "-shm"):
            Path(str(d.database) + suffix).unlink(missing_ok=True)
        shutil.copy(restore_from, d.database)
    d.log = open(d.log_path, "ab")
    d.process = subprocess.Popen([str(env.syncd), "--config", str(d.config_path)], stdout=d.log,
                                 stderr=d.log)
    return wait_accepting(d.socket, d.process)


def syscalls_per_request(d, env, server, snapshot, sessions):
    """A diagnostic drain under strace (only the counted calls stop, via seccomp-bpf): fsyncs
    and page reads/writes per request, and the time spent in fsync. Not used for timings."""
    d.stop()
    for suffix in ("-wal", "-shm"):
        Path(str(d.database) + suffix).unlink(missing_ok=True)
    shutil.copy(snapshot, d.database)
    summary = d.dir / "strace-drain.txt"
    d.log = open(d.log_path, "ab")
    d.process = subprocess.Popen(
        ["strace", "-f", "--seccomp-bpf", "-qq", "-c", "-o", str(summary), "-e",
         "trace=fsync,fdatasync,pwrite64,pread64", str(env.syncd), "--config", str(d.config_path)],
        stdout=d.log, stderr=d.log)
    wait_accepting(d.socket, d.process)
    server.reset()
    client = d.client(timeout=600)
    reply = client.call({"type": "sync_now"})
    client.close()
    requests = len(server.requests())
    child = open(f"/proc/{d.process.pid}/task/{d.process.pid}/children").read().split()[0]
    os.kill(int(child), signal.SIGTERM)
    d.process.wait(30)
    d.log.close()
    calls, seconds = {}, {}
    for line in summary.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 5 and parts[-1] in ("fsync", "fdatasync", "pwrite64", "pread64"):
            calls[parts[-1]] = int(parts[3])
            seconds[parts[-1]] = float(parts[1])
    assert reply["result"]["sessions_uploaded"] == sessions, reply
    fsyncs = calls.get("fsync", 0) + calls.get("fdatasync", 0)
    return {"requests": requests,
            "fsyncs": fsyncs / requests,
            "pwrites": calls.get("pwrite64", 0) / requests,
            "preads": calls.get("pread64", 0) / requests}


def drain_once(d, server, sessions):
    """sync_now (wait) from a full queue; what it took and what the stand-in saw."""
    server_cpu, daemon_cpu = (proc_cpu_seconds(server.process.pid),
                              proc_cpu_seconds(d.process.pid))
    client = d.client(timeout=600)
    began = time.monotonic()
    reply = client.call({"type": "sync_now"})
    took = time.monotonic() - began
    client.close()
    result = reply.get("result", {})
    if not reply.get("ok") or result.get("sessions_uploaded") != sessions:
        raise RuntimeError(f"the drain did not upload everything: {reply}")
    requests = server.requests()
    return {"seconds": took,
            "server_cpu_s": proc_cpu_seconds(server.process.pid) - server_cpu,
            "daemon_cpu_s": proc_cpu_seconds(d.process.pid) - daemon_cpu,
            "status": proc_status(d.process.pid),
            "requests": len(requests),
            "connections": len({r["conn"] for r in requests}),
            "statuses": sorted({r["status"] for r in requests}),
            "stored": server.state(only=())["counts"]["sessions"]}


def fewest_requests(profile, sessions, books, batch_size):
    """The fewest uploads the profile's API allows: batches per book where there is a batch
    endpoint (W, B, B0), else one single post per session (G, A)."""
    if profile in ("G", "A"):
        return sessions
    return books * math.ceil(sessions / books / batch_size)


def run(env, sessions=10_000, books=50, delay_ms=20, batch_size=100, sample=500, curl_sample=50,
        drains=3, log=print, profile="B", drains_only=False):
    sys.path.insert(0, str(STANDIN))
    from standin import Standin, make_certs
    certs = make_certs(str(env.work_dir / "certs"))
    ca_file = certs + "/ca.crt"
    book_list = [(BOOK_ID_BASE + b, book_hash(b)) for b in range(books)]
    out = {"sessions": sessions, "books": books, "delay_ms": delay_ms, "drains": drains,
           "profile": profile}
    daemon = daemon_class()  # puts harness on the path
    # the passwords harness.Daemon configures
    from harness import CANARY_BL_PASSWORD, CANARY_PASSWORD
    with Standin(profile, books=book_list, delay_ms=delay_ms, tls_cert=certs + "/server.crt",
                 tls_key=certs + "/server.key", ca_file=ca_file, ko_password=CANARY_PASSWORD,
                 bl_password=CANARY_BL_PASSWORD) as server:
        # With the BookLore account: G and A take sessions only with it, and it lets the
        # daemon read the server's list (exactly once).
        d = daemon(server_url=server.url, workdir=env.scratch("drain"),
                           manual_sync_only=True, ca_file=ca_file, request_timeout_seconds=30,
                           batch_size=batch_size, booklore_username="bluser",
                           booklore_password=CANARY_BL_PASSWORD)
        try:
            d.start()
            began = time.monotonic()
            run_ingest(env, d.socket, 8, total=sessions, books=books, book_id_base=BOOK_ID_BASE,
                       run="drain")
            out["queue_seconds"] = time.monotonic() - began
            assert d.sql("SELECT count(*) FROM pending_sessions")[0][0] == sessions
            time.sleep(1.0)  # let the allocator settle before reading RSS
            out["queued_status"] = proc_status(d.process.pid)
            log(f"  queued {sessions} in {out['queue_seconds']:.1f} s")

            # The same full queue for every drain: a copy taken while the daemon is stopped.
            d.stop()
            snapshot = d.dir / "full-queue.sqlite"
            shutil.copy(d.database, snapshot)
            startups = [restart_timed(d, env) for _ in range(3)]
            out["startup_s"] = median(startups)
            out["startup_all"] = startups
            out["after_start_status"] = proc_status(d.process.pid)

            runs = []
            for n in range(drains):
                if n:
                    restart_timed(d, env, restore_from=snapshot)
                    server.reset()
                runs.append(drain_once(d, server, sessions))
                log(f"  drain {n + 1}/{drains}: {runs[-1]['seconds']:.2f} s")
            out["runs"] = runs
            out["drain_s"] = median(r["seconds"] for r in runs)
            out["peak_hwm_kib"] = max(r["status"]["hwm_kib"] for r in runs)
            out["fewest"] = fewest_requests(profile, sessions, books, batch_size)
            out["fewest_s"] = out["fewest"] * delay_ms / 1000
            if drains_only:
                return out

            server.reset()
            out["per_conn_sample"] = sample
            out["per_conn_python_s"] = per_connection_python(server, ca_file, sample, books)
            out["per_conn_curl_sample"] = curl_sample
            out["per_conn_curl_s"] = per_connection_curl(server, ca_file, curl_sample, books)
            log(f"  one connection per session: {1000 * out['per_conn_python_s']:.1f} ms each")

            # What a batch costs besides the server's delay: the same drain with none.
            restart_timed(d, env, restore_from=snapshot)
            server.reset()
            server.config(delay_ms=0)
            out["no_delay"] = drain_once(d, server, sessions)
            log(f"  drain without delay: {out['no_delay']['seconds']:.2f} s")
            out["syscalls"] = syscalls_per_request(d, env, server, snapshot, sessions)
        finally:
            if d.alive():
                d.stop(signal.SIGTERM)
            d.cleanup()
    return out


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="drain only: time, requests, the fewest bound")
    parser.add_argument("--build", default=str(Path(__file__).resolve().parents[2] / "build"))
    parser.add_argument("--profile", default="B", choices=["G", "A", "W", "B", "B0"])
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--books", type=int, default=50)
    parser.add_argument("--delay-ms", type=int, default=20)
    parser.add_argument("--drains", type=int, default=1)
    args = parser.parse_args()
    from benchlib import Env
    result = run(Env(args.build), sessions=args.sessions, books=args.books,
                 delay_ms=args.delay_ms, drains=args.drains, profile=args.profile,
                 drains_only=True, log=lambda text: print(text, file=sys.stderr))
    for r in result["runs"]:
        r.pop("status", None)
    print(json.dumps({k: result[k] for k in ("profile", "sessions", "books", "delay_ms",
                                             "drain_s", "fewest", "fewest_s", "runs")}))
