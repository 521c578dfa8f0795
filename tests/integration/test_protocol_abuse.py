"""Malformed input gets a clear error or a closed connection; the daemon keeps serving."""

import json
import random
import socket

from harness import Client, session


def bad_lines():
    rnd = random.Random(1234)
    lines = []
    lines += [b"{", b"}", b"{\"type\":", b"[1,2", b"nul", b"{'type':'status'}", b"{\"a\":1}{\"b\":2}",
              b"\"just a string\"", b"42", b"[]", b"null", b"", b"   ", b"{\"type\":\"status\",}"]
    lines += [b"[" * 30000 + b"]" * 30000]  # deep nesting: must not exhaust the stack
    lines += [json.dumps({"type": t}).encode() for t in ("", "SESSION_END", "drop_tables", 5)]
    lines += [json.dumps({"id": 1}).encode(), json.dumps({"type": None}).encode(),
              json.dumps({"type": "status", "id": {"x": 1}}).encode()]
    huge = [b'{"type":"session_end","book_hash":"0123456789abcdef0123456789abcdef","start_time":1,'
            b'"end_time":2,"duration_seconds":1e400}',
            b'{"type":"session_end","duration_seconds":123456789012345678901234567890}',
            b'{"type":"list_pending","limit":1e308}',
            b'{"type":"list_pending","limit":-5}']
    lines += huge
    fields = ["book_hash", "start_time", "end_time", "duration_seconds", "book_id", "book_type",
              "start_progress", "end_progress", "start_location", "end_location", "event_id",
              "file_path", "title"]
    odd_values = [None, True, "12", "", [], {}, -1, 1e308, "2026-13-40T99:99:99Z", "\u0000",
                  "x" * 70000]
    while len(lines) < 170:
        req = session(rnd.randrange(1000))
        for _ in range(rnd.randrange(1, 4)):
            field = rnd.choice(fields)
            if rnd.random() < 0.3:
                req.pop(field, None)
            else:
                req[field] = rnd.choice(odd_values)
        line = json.dumps(req).encode()
        if len(line) < 65000:
            lines.append(line)
    while len(lines) < 195:
        lines.append(bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 300))).replace(b"\n", b""))
    lines += [b"\xff\xfe{\"type\":\"status\"}", b"{\"type\":\"status\",\"x\":\"\xc3\x28\"}"]
    return lines


def test_two_hundred_malformed_lines(daemon):
    good = daemon.client()
    evil = daemon.client()
    lines = bad_lines()
    assert len(lines) >= 197
    queued_before = daemon.sql("SELECT count(*) FROM pending_sessions")[0][0]
    for i, line in enumerate(lines):
        evil.send_raw(line + b"\n")
        reply = evil.recv()
        assert reply is not None, f"line {i} closed the connection: {line[:80]!r}"
        if reply["ok"]:
            # A mutation that happened to stay valid is fine, as long as it was queued for real.
            continue
        assert reply["error"]["code"] in {"invalid_json", "invalid_request", "invalid_field",
                                          "unknown_type"}, reply
        assert reply["error"]["message"]
        if i % 10 == 0:
            assert good.call({"type": "status"})["ok"]
    ok_sessions = daemon.sql("SELECT count(*) FROM pending_sessions")[0][0] - queued_before
    assert ok_sessions >= 0

    # A line over 64 KiB: an error, then the daemon closes that connection.
    evil.send_raw(b'{"type":"status","pad":"' + b"x" * 70000 + b'"}\n')
    reply = evil.recv()
    assert reply["error"]["code"] == "too_large"
    assert evil.recv_line() is None

    # A half line, then a hang-up.
    half = daemon.client()
    half.send_raw(b'{"type":"session_end","book_hash":"01234')
    half.close()
    # Binary garbage without a newline and a hang-up.
    junk = daemon.client()
    junk.send_raw(bytes(range(256)) * 10)
    junk.sock.shutdown(socket.SHUT_WR)
    junk.close()

    assert good.call({"type": "status"})["ok"]
    r = good.call(session(9999, event_id="after-abuse"))
    assert r["ok"] and r["queued"]
    assert daemon.alive()
    assert daemon.sql("PRAGMA integrity_check") == [("ok",)]


def test_line_of_exactly_the_limit_is_accepted(daemon):
    c = daemon.client()
    prefix = b'{"type":"status","pad":"'
    suffix = b'"}'
    pad = 65536 - 1 - len(prefix) - len(suffix)
    c.send_raw(prefix + b"x" * pad + suffix + b"\n")
    assert c.recv()["ok"]
    c.send_raw(prefix + b"x" * (pad + 1) + suffix + b"\n")
    assert c.recv()["error"]["code"] == "too_large"


def test_pipelined_requests_are_answered_in_order(daemon):
    c = daemon.client()
    c.send_raw(b"".join(json.dumps({"type": "status", "id": i}).encode() + b"\n" for i in range(50)))
    assert [c.recv()["id"] for _ in range(50)] == list(range(50))
