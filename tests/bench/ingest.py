"""Ingest: acknowledged session_end per second with 1 and 8 clients, next to the fsync limit.

The limit is the sqlite3 shell doing the daemon's inserts (a pending_sessions row and its
event_ledger row) one transaction each, WAL + synchronous=FULL, on a copy of the daemon's own
empty database in the same directory: once with the daemon's own connection pragmas (read from
storage/database_open.cpp, so the only difference left is group commit), once with WAL + FULL
alone. Both sides are measured in the steady state: the shell first commits enough warm-up
transactions for the WAL to wrap (a growing WAL pays for file-size journaling on every fsync, a
wrapped one does not), the daemon gets a warm-up run. The measurements are interleaved and
repeated, because a shared virtual disk is noisy; the table shows median (min-max).
"""

import os
import re
import shutil
import signal
import subprocess

from benchlib import REPO, daemon_class, median, run_ingest, spread, wait_accepting

ROW = ("INSERT INTO pending_sessions (event_id, book_id, book_hash, file_path, book_title, "
       "book_type, start_time, end_time, duration_seconds, start_progress, end_progress, "
       "progress_delta, start_location, end_location, created_at) VALUES ('{e}', NULL, "
       "'0123456789abcdef0123456789abcdef', NULL, 'Bench book', 'EPUB', '{s}', '{s}', 600, 10.0, "
       "12.5, 2.5, '10', '12', '2026-01-01T00:00:00Z');"
       "INSERT INTO event_ledger (kind, event_id, queue_id, created_at) VALUES ('session', '{e}', "
       "last_insert_rowid(), '2026-01-01T00:00:00Z');")
NOW = "SELECT 'T', (julianday('now') - 2440587.5) * 86400.0;"
PLAIN_PRAGMAS = ["PRAGMA journal_mode = WAL;", "PRAGMA synchronous = FULL;"]


def daemon_pragmas():
    """The per-connection pragmas the daemon sets (storage/database_open.cpp)."""
    source = (REPO / "storage" / "database_open.cpp").read_text()
    source = re.sub(r"//[^\n]*", "", source)  # comments between the string pieces
    block = re.search(r"connection_pragmas\s*=\s*((?:\s*\"[^\"]*\")+)\s*;", source)
    pragmas = re.findall(r'"([^"]*)"', block.group(1)) if block else []
    if not any("synchronous" in p for p in pragmas):
        raise RuntimeError("cannot read the daemon's pragmas from storage/database_open.cpp")
    return pragmas


def template_database(env):
    """The daemon's own empty database (schema, indexes, WAL mode), closed cleanly."""
    d = daemon_class()(workdir=env.scratch("tmpl"), manual_sync_only=True)
    d.start()
    d.stop()
    return d.database


def sqlite_shell_rate(env, template, pragmas, transactions, warmup, tag):
    work = env.scratch(f"shell-{tag}")
    db = work / "queue.sqlite"
    shutil.copy(template, db)
    lines = list(pragmas) + [".output /dev/null"]
    event = 0

    def txn():
        nonlocal event
        event += 1
        start = f"2026-01-01T{event // 3600 % 24:02d}:{event // 60 % 60:02d}:{event % 60:02d}Z"
        return "BEGIN;" + ROW.format(e=f"shell-{event}", s=start) + "COMMIT;"

    lines += [txn() for _ in range(warmup)]
    lines += [".output stdout", NOW, ".output /dev/null"]
    lines += [txn() for _ in range(transactions)]
    lines += [".output stdout", NOW]
    shell = subprocess.run(["sqlite3", "-bail", str(db)], input="\n".join(lines) + "\n",
                           capture_output=True, text=True)
    if shell.returncode != 0:
        raise RuntimeError(f"sqlite3 failed: {shell.stderr.strip()}")
    out = shell.stdout
    stamps = [float(line.split("|")[1]) for line in out.splitlines() if line.startswith("T|")]
    assert len(stamps) == 2, out
    shutil.rmtree(work, ignore_errors=True)
    return transactions / (stamps[1] - stamps[0])


def events_per_fsync(env, clients, seconds):
    """A separate diagnostic run under strace, where only fsync/fdatasync stop (seccomp-bpf):
    how many acknowledged events share one fsync. Not used for the timed figures."""
    d = daemon_class()(workdir=env.scratch(f"diag{clients}"), manual_sync_only=True)
    summary = d.dir / "strace.txt"
    with open(d.log_path, "ab") as log:
        tracer = subprocess.Popen(
            ["strace", "-f", "--seccomp-bpf", "-qq", "-c", "-o", str(summary), "-e",
             "trace=fsync,fdatasync", str(env.syncd), "--config", str(d.config_path)],
            stdout=log, stderr=log)
        try:
            wait_accepting(d.socket, tracer)
            before = summary_calls(summary)  # nothing yet: strace writes at exit
            result = run_ingest(env, d.socket, clients, seconds=seconds, run=f"diag{clients}")
        finally:
            children = open(f"/proc/{tracer.pid}/task/{tracer.pid}/children").read().split()
            for child in children:
                os.kill(int(child), signal.SIGTERM)
            tracer.wait(30)
    calls = summary_calls(summary) - before
    shutil.rmtree(d.dir, ignore_errors=True)
    return result["events"] / max(calls, 1)


def summary_calls(path):
    calls = 0
    if path.exists():
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 5 and parts[-1] in ("fsync", "fdatasync"):
                calls += int(parts[3])
    return calls


def run(env, reps=5, seconds=3.0, transactions=600, warmup=400, log=print):
    template = template_database(env)
    pragmas = ["PRAGMA journal_mode = WAL;"] + daemon_pragmas()
    d = daemon_class()(workdir=env.scratch("ingest"), manual_sync_only=True)
    d.start()
    shell, plain, one, eight = [], [], [], []
    try:
        warm = run_ingest(env, d.socket, 8, seconds=1.0, run="warm")["events"]
        for rep in range(reps):
            shell.append(sqlite_shell_rate(env, template, pragmas, transactions, warmup, "d"))
            one.append(run_ingest(env, d.socket, 1, seconds=seconds, run=f"one{rep}"))
            plain.append(sqlite_shell_rate(env, template, PLAIN_PRAGMAS, transactions, warmup,
                                           "p"))
            eight.append(run_ingest(env, d.socket, 8, seconds=seconds, run=f"eight{rep}"))
            log(f"  ingest {rep + 1}/{reps}: sqlite3 {shell[-1]:.0f}/s (plain {plain[-1]:.0f}/s)"
                f", 1 client {one[-1]['per_second']:.0f}/s, 8 clients "
                f"{eight[-1]['per_second']:.0f}/s")
        # Every acknowledged event is in the file.
        acked = warm + sum(r["events"] for r in one + eight)
        queued = d.sql("SELECT count(*) FROM pending_sessions")[0][0]
        assert queued == acked, f"{acked} acknowledged, {queued} in pending_sessions"
    finally:
        d.stop()
        d.cleanup()
    diag = {1: events_per_fsync(env, 1, 2.0), 8: events_per_fsync(env, 8, 3.0)}

    limit = median(shell)
    rows = []
    for clients, runs in ((1, one), (8, eight)):
        rates = [r["per_second"] for r in runs]
        rows.append({
            "clients": clients,
            "rate": spread(rates),
            "median_ms": spread([r["median_ms"] for r in runs], "{:.2f}"),
            "p99_ms": spread([r["p99_ms"] for r in runs], "{:.1f}"),
            "ratio": median(rates) / limit,
            "ratio_plain": median(rates) / median(plain),
            "ratios": [r / s for r, s in zip(rates, shell)],
            "events_per_fsync": diag[clients],
        })
    return {"shell": spread(shell), "shell_rate": limit, "plain": spread(plain),
            "plain_rate": median(plain), "rows": rows, "reps": reps, "seconds": seconds,
            "transactions": transactions}
