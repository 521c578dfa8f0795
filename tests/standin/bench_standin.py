#!/usr/bin/python3
"""Prints what the stand-in itself costs, so daemon benchmarks can subtract it.

    bench_standin.py [--delay-ms 20] [--batches 100] [--singles 200] [--certs DIR]

Over TLS (test CA from make_certs.sh): N batches of 100 on one keep-alive connection, then
single POSTs each on a new connection (curl when installed, else Python), then 8 parallel
keep-alive connections to show the delay sleep does not serialize requests. Server CPU comes
from /proc/<pid>/stat.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from standin import Standin, make_certs  # noqa: E402

BOOK_HASH = "0123456789abcdef0123456789abcdef"


def server_cpu(pid):
    fields = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def batch(size, first):
    items = []
    for i in range(first, first + size):
        start = "2026-02-%02dT%02d:%02d:00Z" % (1 + i // 1440 % 28, i // 60 % 24, i % 60)
        items.append({"startTime": start, "endTime": start, "durationSeconds": 60,
                      "durationFormatted": "0:01:00", "startProgress": 1.5, "endProgress": 2.5,
                      "progressDelta": 1.0, "startLocation": "12", "endLocation": "13"})
    return {"bookId": 42, "bookType": "EPUB", "sessions": items}


def measure(server, label, count, action):
    cpu, wall = server_cpu(server.process.pid), time.monotonic()
    action()
    wall, cpu = time.monotonic() - wall, server_cpu(server.process.pid) - cpu
    print("%-44s %8.1f ms wall/op %6.2f ms server CPU/op" % (label, 1000 * wall / count,
                                                              1000 * cpu / count))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--delay-ms", type=int, default=20)
    parser.add_argument("--batches", type=int, default=100)
    parser.add_argument("--singles", type=int, default=200)
    parser.add_argument("--certs", help="reuse a make_certs.sh output directory")
    args = parser.parse_args()
    scratch = tempfile.mkdtemp(prefix="standin-bench-")
    certs = make_certs(args.certs or os.path.join(scratch, "certs"))
    try:
        with Standin(books=[(42, BOOK_HASH)], delay_ms=args.delay_ms,
                     tls_cert=os.path.join(certs, "server.crt"),
                     tls_key=os.path.join(certs, "server.key"),
                     ca_file=os.path.join(certs, "ca.crt")) as server:
            print("delay_ms=%d (included in wall times)" % args.delay_ms)
            bodies = [batch(100, 100 * b) for b in range(args.batches)]

            def batches():
                conn = server.connection()
                for body in bodies:
                    assert server.request("POST", "/api/v1/reading-sessions/batch",
                                          json_body=body, ko=True, conn=conn).status == 200
                conn.close()

            measure(server, "batch of 100, keep-alive TLS", args.batches, batches)

            single = dict(batch(1, 0)["sessions"][0], bookId=42, bookType="EPUB")
            curl = shutil.which("curl")

            def singles():
                for _ in range(args.singles):
                    if curl:
                        status = subprocess.run(
                            [curl, "-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert",
                             os.path.join(certs, "ca.crt"), "-H",
                             "Content-Type: application/json", "-H",
                             "x-auth-user: " + server.ko_user, "-H",
                             "x-auth-key: " + server.ko_key, "-d", json.dumps(single),
                             server.url + "/api/v1/reading-sessions"],
                            capture_output=True, text=True, check=True).stdout
                        assert status == "202", status
                    else:
                        assert server.request("POST", "/api/v1/reading-sessions",
                                              json_body=single, ko=True).status == 202

            measure(server, "single POST, new TLS connection (%s)" % ("curl" if curl else
                                                                     "python"),
                    args.singles, singles)

            def parallel():
                threads = [threading.Thread(target=lambda: [
                    server.request("POST", "/api/v1/reading-sessions/batch", json_body=body,
                                   ko=True) for body in bodies[:10]]) for _ in range(8)]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()

            measure(server, "8 parallel clients x 10 batches (per batch)", 80, parallel)
            counts = server.state(only=())["counts"]
            print("stored sessions=%d requests=%d" % (counts["sessions"], counts["requests"]))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
