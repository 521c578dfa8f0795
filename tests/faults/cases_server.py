"""Fault cases on the way to the server: its answers (500, 429, hangs, a lost reply, HTML, a wrong
certificate), the network cut mid-request inside a network namespace, and the wall clock."""

import json
import subprocess
import sys
from pathlib import Path

from faultlib import (BOOKS, CANARY_BL_PASSWORD, CANARY_PASSWORD, HERE, Events, Record, Standin,
                      check, drain, make_certs, make_daemon, queued_event_ids, send_sessions, sync)

SESSIONS = 60
FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
BATCH = "/api/v1/reading-sessions/batch"
UPLOADS = "/api/v1/reading-sessions"


def _standin(profile, tls=None, certs=None, **kwargs):
    if tls:
        kwargs.update(tls_cert=f"{certs}/{tls}.crt", tls_key=f"{certs}/{tls}.key",
                      ca_file=f"{certs}/ca.crt")
    return Standin(profile, books=BOOKS, ko_password=CANARY_PASSWORD,
                   bl_password=CANARY_BL_PASSWORD, **kwargs)


def _daemon(tmp, name, server, certs=None, **config):
    config.setdefault("request_timeout_seconds", 2)
    if certs:
        config["ca_file"] = f"{certs}/ca.crt"
    return make_daemon(tmp, name, server_url=server.url, manual_sync_only=True,
                       booklore_username="bluser", booklore_password=CANARY_BL_PASSWORD,
                       **config)


def _uploads(server):
    return [r for r in server.requests() if r["path"].startswith(UPLOADS)]


def server_fault(tmp, name, label, rule, expect, profile="B0"):
    """Sessions queued, the fault switched on, one sync under it, the fault cleared, a drain.
    `expect(result, uploads_during, server)` checks what the faulted sync did."""
    events = Events(name)
    with _standin(profile) as server:
        d = _daemon(tmp, name, server)
        try:
            d.start()
            send_sessions(d.socket, events, SESSIONS, clients=2)
            server.faults(**rule)
            reply = sync(d)
            assert reply and reply["ok"], reply
            during = _uploads(server)
            still = len(queued_event_ids(d.database) & events.acked)
            expect(reply["result"], during, server)
            server.clear_faults()
            final = drain(d)
            assert final["pending_sessions"] == 0, final
            return check(label, events, d, server,
                         notes=f"{len(during)} upload request(s) under the fault, {still} of "
                               f"{len(events.acked)} still queued after it; then drained")
        finally:
            d.cleanup()


def _nothing_uploaded(result, during, server):
    assert result["sessions_uploaded"] == 0, result


def _stopped_at_once(result, during, server):
    assert result["sessions_uploaded"] == 0, result
    assert len(during) == 1, f"the daemon kept sending after 429: {len(during)} requests"


def _one_batch_lost(result, during, server):
    # The first batch was committed by the server but its answer never arrived: the run stops
    # and the rows stay queued, to be sent again with the same Idempotency-Key.
    assert result["sessions_uploaded"] == 0, result
    assert len(during) == 1 and during[0]["path"] == BATCH and during[0]["status"] == 200, during
    assert server.state(only=())["counts"]["sessions"] > 0, "the server committed nothing"


def wrong_certificate(tmp):
    """The server presents a certificate for another host name (signed by the trusted CA): no
    request, hence no credential, may reach it; after the right certificate, everything goes."""
    certs = make_certs(str(Path(tmp) / "certs"))
    events = Events("tls")
    with _standin("B", tls="wrong-host", certs=certs) as server:
        d = _daemon(tmp, "tls", server, certs=certs)
        try:
            d.start()
            send_sessions(d.socket, events, SESSIONS, clients=2)
            result = sync(d)["result"]
            assert result["sessions_uploaded"] == 0 and result["network"] == "unreachable", result
            assert server.requests() == [], "a request reached a server with a wrong certificate"
            failures = server.state(only=())["tls_failures"]
            server.config(tls_cert=f"{certs}/server.crt", tls_key=f"{certs}/server.key")
            assert drain(d)["pending_sessions"] == 0
            return check("wrong TLS certificate (host name)", events, d, server,
                         notes=f"0 requests reached it, {failures} refused handshake(s); "
                               "then the right certificate: drained")
        finally:
            d.cleanup()


# ---------------------------------------------------------------------------------- clock


def clock(tmp, name, label, faketime, tls, expect_upload):
    """The daemon runs with libfaketime preloaded (wall clock only; monotonic time stays real).
    Not through the faketime program: it forks, and a signal to it would not reach the daemon."""
    certs = make_certs(str(Path(tmp) / "certs")) if tls else None
    events = Events(name)
    env = {"LD_PRELOAD": FAKETIME_LIB, "FAKETIME": faketime, "FAKETIME_DONT_FAKE_MONOTONIC": "1",
           "FAKETIME_NO_CACHE": "1"}
    with _standin("B", tls="server" if tls else None, certs=certs) as server:
        d = _daemon(tmp, name, server, certs=certs)
        try:
            d.start(extra_env=env)
            send_sessions(d.socket, events, SESSIONS, clients=2)
            created = d.sql("SELECT min(created_at) FROM pending_sessions")[0][0]
            result = sync(d)["result"]
            if expect_upload:
                assert result["sessions_uploaded"] == len(events.acked), (result, d.log_text()[-2000:])
                note = f"queued (created_at {created}) and uploaded under the fake clock"
            else:
                assert result["sessions_uploaded"] == 0, result
                log = d.log_text()
                assert "not yet valid" in log or "certificate" in log, log[-2000:]
                d.stop()
                d.start()  # the clock is right again
                final = drain(d)
                assert final["pending_sessions"] == 0, (final, d.log_text()[-3000:])
                note = (f"queued (created_at {created}); TLS refused ('not yet valid'), rows "
                        "kept; uploaded after a restart with the right clock")
            return check(label, events, d, server, notes=note)
        finally:
            d.cleanup()


# ---------------------------------------------------------------------------------- network


def network_cut(tmp):
    """Runs netns_case.py in a new network namespace (root), where it can cut connections."""
    out = Path(tmp) / "netns-record.json"
    proc = subprocess.run(["unshare", "--net", "--", sys.executable, str(HERE / "netns_case.py"),
                           tmp, str(out)], capture_output=True, text=True, timeout=240)
    if proc.returncode != 0 or not out.exists():
        raise AssertionError(f"network case failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n"
                             f"{proc.stderr[-3000:]}")
    return Record(json.loads(out.read_text()))


CASES = {
    "http_500": lambda tmp: server_fault(
        tmp, "http500", "server answers 500", {"status": 500, "path_prefix": UPLOADS},
        _nothing_uploaded),
    "http_429": lambda tmp: server_fault(
        tmp, "http429", "server answers 429, Retry-After: 30",
        {"status": 429, "retry_after": 30, "path_prefix": UPLOADS}, _stopped_at_once),
    "hang": lambda tmp: server_fault(
        tmp, "hang", "reply hangs past request_timeout (2 s)",
        {"hang_ms": 4000, "path_prefix": BATCH, "count": 1}, _one_batch_lost, profile="B"),
    "drop_after_commit": lambda tmp: server_fault(
        tmp, "dropped", "connection closed after the server committed",
        {"drop_after_commit": True, "path_prefix": BATCH, "count": 1}, _one_batch_lost,
        profile="B"),
    "html_200": lambda tmp: server_fault(
        tmp, "html", "200 with an HTML page", {"html": True, "path_prefix": UPLOADS},
        _nothing_uploaded),
    "wrong_certificate": wrong_certificate,
    "network_cut": network_cut,
    "clock_2001": lambda tmp: clock(tmp, "y2001", "wall clock in 2001 (HTTP)",
                                    "@2001-01-01 00:00:00", tls=False, expect_upload=True),
    "clock_2001_tls": lambda tmp: clock(tmp, "y2001tls", "wall clock in 2001 (TLS)",
                                        "@2001-01-01 00:00:00", tls=True, expect_upload=False),
    "clock_plus_year": lambda tmp: clock(tmp, "plusyear", "wall clock a year ahead (TLS)",
                                         "+365d", tls=True, expect_upload=True),
}
