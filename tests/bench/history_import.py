"""History import: time of an import_history of a large statistics.sqlite3 (KOReader's schema),
first into an empty queue and then again (every session overlaps), and how long live
session_end requests wait meanwhile on another connection.

BOOKLORE_BIN_DIR=build/daemon python3 tests/bench/history_import.py [books] [sessions_per_book]
"""

import hashlib
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from harness import Daemon, session  # noqa: E402
from test_import_history import T0, Statistics  # noqa: E402

VISITS_PER_SESSION = 40


def build(path, books, per_book):
    stats = Statistics(path)
    for b in range(books):
        book = stats.book(f"Book {b}", hashlib.md5(f"bench-{b}".encode()).hexdigest())
        stats.visits(book, [(v + 1, T0 + (b * per_book + s) * 7200 + v * 45, 40, 400)
                            for s in range(per_book) for v in range(VISITS_PER_SESSION)])
    stats.close()


def timed_import(d, path):
    waits, stop = [], threading.Event()

    def live():
        c = d.client()
        i = 0
        while not stop.is_set():
            t = time.monotonic()
            assert c.call(session(i, book_hash="ab" * 16, event_id=f"live-{time.time()}-{i}"))["ok"]
            waits.append(time.monotonic() - t)
            i += 1
        c.close()

    thread = threading.Thread(target=live)
    thread.start()
    t = time.monotonic()
    reply = d.request({"type": "import_history", "path": str(path)})
    elapsed = time.monotonic() - t
    stop.set()
    thread.join()
    waits.sort()
    return elapsed, reply, waits


def main():
    books = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    per_book = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    with Daemon() as d:
        d.start()
        path = d.dir / "statistics.sqlite3"
        build(path, books, per_book)
        print(f"statistics: {books * per_book * VISITS_PER_SESSION} visits, "
              f"{books * per_book} sessions, {path.stat().st_size / 1e6:.1f} MB")
        for run in ("first", "again"):
            elapsed, reply, waits = timed_import(d, path)
            print(f"{run:5} import {elapsed:.2f} s imported={reply['imported']} "
                  f"skipped={reply['skipped']}; live session_end n={len(waits)} "
                  f"p50={waits[len(waits) // 2] * 1000:.1f} ms max={waits[-1] * 1000:.1f} ms")


if __name__ == "__main__":
    main()
