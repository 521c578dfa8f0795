#!/usr/bin/python3
"""Runs every benchmark against the real daemon and prints one table (Markdown).

    python3 tests/bench/run_all.py --build-dir build [--write tests/bench/RESULTS.md]

Needs: a built tree (booklore-syncd, booklore-syncctl), sqlite3, strace, openssl, faketime (the
stand-in's certificates), curl (optional). Takes about 3 minutes, a minute of which is the idle
wake-up count. --quick shortens everything (for trying the script, not for figures).
The work directory defaults to BUILD/bench-work: it must be on the disk being measured, not a
tmpfs (the script says so when it is).
"""

import argparse
import datetime
import shlex
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import drain  # noqa: E402
import footprint  # noqa: E402
import ingest  # noqa: E402
from benchlib import Env, kib, machine, spread  # noqa: E402


def mark(ok):
    return "met" if ok else "**missed**"


def table(m, ing, dr, idle, sizes):
    rows = [("figure", "measured", "reference", "ratio / target")]
    add = rows.append
    shell = ing["shell_rate"]
    add(("**ingest** (session_end acknowledged after commit)", "", "", ""))
    add((f"sqlite3 shell, 1 transaction per event, daemon's pragmas ({ing['transactions']} "
         f"txns)", f"{ing['shell']} /s", "the fsync limit", "1×"))
    add(("sqlite3 shell, 1 transaction per event, WAL + FULL only", f"{ing['plain']} /s", "",
         f"{ing['plain_rate'] / shell:.2f}×"))
    for row in ing["rows"]:
        target = ""
        if row["clients"] == 8:
            target = f"; target ≥ 5×: {mark(row['ratio'] >= 5)}"
        add((f"daemon, {row['clients']} client{'s' if row['clients'] > 1 else ''} "
             f"(closed loop, {ing['seconds']:.0f} s × {ing['reps']})",
             f"{row['rate']} /s; reply median {row['median_ms']} ms, p99 {row['p99_ms']} ms",
             f"{row['events_per_fsync']:.1f} events per fsync",
             f"{row['ratio']:.2f}× the limit ({row['ratio_plain']:.2f}× WAL+FULL only){target}"))

    add(("**drain** (TLS, stand-in profile B)", "", "", ""))
    fewest = dr["fewest_s"]
    ratio_fewest = dr["drain_s"] / fewest
    first = dr["runs"][0]
    add((f"sync_now: {dr['sessions']:,} sessions over {dr['books']} books, {dr['delay_ms']} ms "
         f"per request (× {dr['drains']})",
         f"{spread([r['seconds'] for r in dr['runs']], '{:.2f}')} s; {first['requests']} "
         f"requests on {first['connections']} connection(s)",
         f"fewest: {dr['fewest']} requests × {dr['delay_ms']} ms = {fewest:.2f} s",
         f"{ratio_fewest:.2f}×; target ≤ 1.5×: {mark(ratio_fewest <= 1.5)}"))
    nd, sc = dr["no_delay"], dr["syscalls"]
    add(("the same drain with no server delay (what a batch costs besides the delay)",
         f"{nd['seconds']:.2f} s; {1000 * nd['seconds'] / nd['requests']:.1f} ms per request",
         f"per request: daemon CPU {1000 * nd['daemon_cpu_s'] / nd['requests']:.1f} ms, stand-in "
         f"CPU {1000 * nd['server_cpu_s'] / nd['requests']:.1f} ms; {sc['fsyncs']:.1f} fsyncs, "
         f"{sc['pwrites']:.0f} pwrite + {sc['preads']:.0f} pread calls (strace run)", ""))
    total_py = dr["per_conn_python_s"] * dr["sessions"]
    add((f"one new TLS connection per session, in-process (sample {dr['per_conn_sample']}, "
         "extrapolated)", f"{total_py:.1f} s ({1000 * dr['per_conn_python_s']:.1f} ms each)",
         f"{dr['sessions']:,} requests, {dr['sessions']:,} connections",
         f"drain {total_py / dr['drain_s']:.1f}× faster; target ≥ 20×: "
         f"{mark(total_py / dr['drain_s'] >= 20)}"))
    if dr.get("per_conn_curl_s"):
        total_curl = dr["per_conn_curl_s"] * dr["sessions"]
        add((f"the same with one curl process per session (sample {dr['per_conn_curl_sample']}, "
             "extrapolated)", f"{total_curl:.1f} s ({1000 * dr['per_conn_curl_s']:.1f} ms each)",
             "", f"drain {total_curl / dr['drain_s']:.1f}× faster"))
    add((f"queueing the {dr['sessions']:,} (8 clients)", f"{dr['queue_seconds']:.1f} s", "", ""))

    def memory(st):
        return (f"{kib(st['rss_kib'])} (anon {kib(st['anon_kib'])}, file {kib(st['file_kib'])}); "
                f"PSS {kib(st['pss_kib'])}")

    add(("**footprint**", "", "", ""))
    st = idle["status"]
    add(("VmRSS idle, empty queue", memory(st), "≤ 8 MiB", mark(st["rss_kib"] <= 8192)))
    add((f"wake-ups when idle (context switches over {idle['seconds']:.0f} s, "
         f"{idle['threads']} thread(s))", f"{idle['wakeups_per_min']:.1f} /min", "≤ 1 /min",
         mark(idle["wakeups_per_min"] <= 1)))
    add((f"VmRSS with {dr['sessions']:,} queued (after queueing them)",
         memory(dr["queued_status"]), "", ""))
    add((f"start-up with {dr['sessions']:,} queued (exec → socket accepts; median of 3)",
         f"{1000 * dr['startup_s']:.0f} ms", "", ""))
    add(("VmRSS right after that start-up", memory(dr["after_start_status"]), "", ""))
    add(("peak during a drain (VmHWM since its start)", kib(dr["peak_hwm_kib"]), "", ""))
    for name in ("booklore-syncd", "booklore-syncctl"):
        size = sizes[name]
        add((f"{name} stripped (as built)", f"{size['stripped'] / 1024:.0f} KiB "
             f"({size['as_built'] / 1024:.0f} KiB)", "", ""))

    width = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, width)) + " |" for r in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in width) + "|")
    return "\n".join(lines)


def notes(ing, dr, idle, sizes):
    eight = [r for r in ing["rows"] if r["clients"] == 8][0]
    runs = dr["runs"]
    per_txn = 1000 / ing["shell_rate"]
    out = [
        f"- one sqlite3 transaction (write + fsync) took {per_txn:.2f} ms on this disk during "
        "the run (median); the disk's fsync cost changes a lot over time on this VM, so compare "
        "ratios from one run, not rates across runs.",
        "- ingest, per repetition (8 clients ÷ sqlite3 with the daemon's pragmas): "
        + ", ".join(f"{r:.2f}×" for r in eight["ratios"]) + ".",
        "- drains: " + "; ".join(
            f"{r['seconds']:.2f} s, {r['requests']} requests, {r['connections']} connection(s), "
            f"statuses {r['statuses']}, {r['stored']} sessions stored, daemon CPU "
            f"{r['daemon_cpu_s']:.2f} s, stand-in CPU {r['server_cpu_s']:.2f} s" for r in runs)
        + ".",
        "- start-up times: " + ", ".join(f"{1000 * s:.0f} ms" for s in dr["startup_all"]) + ".",
        f"- the daemon links: {', '.join(sizes['shared_libraries'])}.",
    ]
    return "\n".join(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build-dir", default="build")
    parser.add_argument("--work-dir", help="default: BUILD/bench-work (must be on a real disk)")
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    parser.add_argument("--sample", type=int, default=500,
                        help="one-connection-per-session requests actually sent (extrapolated)")
    parser.add_argument("--curl-sample", type=int, default=50)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="short runs, figures not reliable")
    parser.add_argument("--write", help="also write the output as Markdown to this file")
    args = parser.parse_args()
    if args.quick:
        args.idle_seconds, args.sample, args.curl_sample, args.reps = 5.0, 50, 5, 1

    env = Env(args.build_dir, args.work_dir)
    m = machine(env.work_dir)
    fstype = m["disk"].split()[1] if len(m["disk"].split()) > 1 else ""
    if fstype in ("tmpfs", "ramfs"):
        print(f"warning: {env.work_dir} is on {fstype}: fsync is free there; use --work-dir",
              file=sys.stderr)

    def log(text):
        print(text, file=sys.stderr, flush=True)

    log("ingest ...")
    ing = ingest.run(env, reps=args.reps, seconds=1.0 if args.quick else 3.0,
                     transactions=200 if args.quick else 600, log=log)
    log("drain ...")
    dr = drain.run(env, sample=args.sample, curl_sample=args.curl_sample, log=log)
    log(f"idle for {args.idle_seconds:.0f} s ...")
    idle = footprint.idle(env, seconds=args.idle_seconds)
    sizes = footprint.binary_sizes(env)

    command = "python3 tests/bench/run_all.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    head = subprocess.run(["git", "-C", str(Path(__file__).resolve().parent), "rev-parse",
                           "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    text = "\n".join([
        f"Benchmarks, {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}, commit "
        f"{head or '?'}{' (quick: not for quoting)' if args.quick else ''}",
        f"Command: `{command}`",
        "",
        f"Machine: {m['nproc']} CPUs, {m['cpu']}, {m['memory']} RAM, kernel {m['kernel']}, "
        f"SQLite {m['sqlite']}",
        f"Disk: {m['disk']}",
        "",
        table(m, ing, dr, idle, sizes),
        "",
        notes(ing, dr, idle, sizes),
    ])
    print(text)
    if args.write:
        Path(args.write).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
