#!/usr/bin/python3
"""The fault campaign: runs every case (or the ones named) and prints one table of counts.

    BOOKLORE_BIN_DIR=build/daemon python3 tests/faults/campaign.py [CASE ...] [--json FILE]
    python3 tests/faults/campaign.py --build-dir build --list

Each case ends with the same check (faultlib.check): every acknowledged event is on the server
or still queued (lost must be 0), PRAGMA integrity_check is ok, the daemon answers, and no log or
output holds a secret. BOOKLORE_FAULTS_LONG=1 runs the longer variants (more crash points, more
rounds, a 10-minute fuzz). The CI wrappers are tests/integration/test_faults_*.py.
"""

import argparse
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("cases", nargs="*", help="case names (default: all)")
    parser.add_argument("--build-dir", help="sets BOOKLORE_BIN_DIR to BUILD/daemon")
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--json", help="also write the records as JSON lines to this file")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    return parser.parse_args()


def all_cases():
    import cases_server
    import cases_socket
    import cases_storage
    cases = {}
    for module in (cases_storage, cases_server, cases_socket):
        cases.update(module.CASES)
    return cases


COLUMNS = [("case", "case"), ("acknowledged", "acknowledged"), ("uploaded", "uploaded"),
           ("queued", "still queued"), ("lost", "lost"), ("twice", "uploaded twice"),
           ("notes", "notes")]


def cell(record, key):
    value = record.get(key, "")
    if key == "twice" and isinstance(value, int) and record.get("extra_copies", 0) > value:
        return f"{value} ({record['extra_copies']} extra copies)"
    return str(value)


def table(records):
    rows = [[title for _, title in COLUMNS]]
    for r in records:
        rows.append([cell(r, key) for key, _ in COLUMNS])
    width = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(row, width)) + " |" for row in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in width) + "|")
    return "\n".join(lines)


def run_case(name, fn, scratch):
    tmp = Path(scratch) / name
    tmp.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    record = fn(str(tmp))
    record["seconds"] = round(time.monotonic() - began, 1)
    record["name"] = name
    return record


def canary(scratch, records):
    """The secrets canary over everything the campaign left behind: every log and output file
    (not the daemons' config files, which hold the password on purpose, nor the databases)."""
    from faultlib import Record, secret_hits
    texts, size = [], 0
    for path in Path(scratch).rglob("*"):
        if path.is_file() and path.name != "config.json" and ".sqlite" not in path.name:
            data = path.read_bytes()
            size += len(data)
            texts.append((str(path.relative_to(scratch)), data.decode(errors="replace")))
    texts.append(("campaign records", json.dumps(records)))
    hits = secret_hits(texts)
    return Record(case="secrets canary (passwords, MD5 keys, JWTs)", acknowledged="", uploaded="",
                  queued="", lost="", twice="",
                  notes=(f"{len(texts)} files ({size // 1024} KiB) of logs and outputs: "
                         + (f"LEAKS: {hits}" if hits else "nothing found")))


def main():
    args = parse_args()
    if args.build_dir:
        os.environ["BOOKLORE_BIN_DIR"] = str(Path(args.build_dir).resolve() / "daemon")
    if not os.environ.get("BOOKLORE_BIN_DIR"):
        print("say which build: --build-dir BUILD or BOOKLORE_BIN_DIR=BUILD/daemon", file=sys.stderr)
        return 2
    sys.path.insert(0, str(HERE))
    cases = all_cases()
    if args.list:
        print("\n".join(cases))
        return 0
    names = args.cases or list(cases)
    unknown = [n for n in names if n not in cases]
    if unknown:
        print(f"unknown case(s): {', '.join(unknown)}; --list shows them", file=sys.stderr)
        return 2
    scratch = tempfile.mkdtemp(prefix="bl-faults-")
    records, failures = [], []
    for name in names:
        print(f"{name} ...", file=sys.stderr, flush=True)
        try:
            record = run_case(name, cases[name], scratch)
            record.assert_sound()
            records.append(record)
        except Exception as e:  # a case that fails is reported, the others still run
            traceback.print_exc()
            failures.append(name)
            records.append({"case": name, "notes": f"FAILED: {str(e)[:200]}"})
        print(f"  {json.dumps(records[-1], sort_keys=True)}", file=sys.stderr, flush=True)
        if args.json:
            with open(args.json, "a") as out:
                out.write(json.dumps(records[-1], sort_keys=True) + "\n")
    try:
        records.append(canary(scratch, records))
    except Exception:  # the table still prints
        traceback.print_exc()
        records.append({"case": "secrets canary", "notes": "FAILED: see above"})
    if "LEAKS" in records[-1]["notes"] or "FAILED" in records[-1]["notes"]:
        failures.append("secrets canary")
    print(table(records))
    if not args.keep:
        import shutil
        shutil.rmtree(scratch, ignore_errors=True)
    if failures:
        print(f"\nFAILED: {', '.join(failures)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
