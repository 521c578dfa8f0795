"""booklore-syncctl against the real daemon: commands, output and exit codes of INTERFACE.md
(0 ok, 1 the daemon said no, 2 usage, 3 cannot reach the daemon)."""

import json
import os
import pty
import select
import subprocess
import time

import pytest

from harness import SYNCCTL, Daemon, session

HASH = "0123456789abcdef0123456789abcdef"
OTHER_HASH = "fedcba9876543210fedcba9876543210"


def ctl(*args, socket=None, config=None):
    """Runs syncctl without a terminal (stdin from /dev/null, whatever runs the tests)."""
    cmd = [str(SYNCCTL)]
    if socket:
        cmd += ["--socket", str(socket)]
    if config:
        cmd += ["--config", str(config)]
    env = {k: v for k, v in os.environ.items() if k != "BOOKLORE_SYNCD_SOCKET"}
    return subprocess.run(cmd + list(args), stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=60, env=env)


@pytest.fixture
def d(daemon_factory):
    return daemon_factory(manual_sync_only=True).start()


def run(d, *args):
    return ctl(*args, socket=d.socket)


def pending_count(d):
    return d.sql("SELECT count(*) FROM pending_sessions")[0][0]


def test_status_human_and_json(d):
    d.request(session(0))
    d.request(session(1, book_id=7))
    d.request({"type": "book_deleted", "file_path": "/b.epub"})
    p = run(d, "status")
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("booklore-syncd ")
    lines = p.stdout.splitlines()
    assert "pending sessions:    2 (1 without a book id yet)" in lines
    assert "pending deletions:   1" in lines
    assert "uploaded sessions:   0" in lines
    assert "sync:                idle" in lines
    assert "last sync:           never" in lines
    assert "  manual_sync_only: yes" in lines
    assert not p.stdout.lstrip().startswith("{")

    p = run(d, "--json", "status")
    assert p.returncode == 0, p.stderr
    reply = json.loads(p.stdout)
    assert reply["ok"] is True
    assert (reply["pending_sessions"], reply["pending_deletions"], reply["unresolved_sessions"]) \
        == (2, 1, 1)
    assert reply["settings"]["manual_sync_only"] is True
    for text in (p.stdout, run(d, "status").stdout):
        assert "canary" not in text


def test_pending_table_shows_title_or_first_8_of_hash(d):
    with_title = d.request(session(0, title="The Left Hand of Darkness"))
    no_title = session(1, book_hash=OTHER_HASH.upper())
    del no_title["title"]
    without = d.request(no_title)
    d.request({"type": "book_deleted", "file_path": "/mnt/onboard/gone.epub", "book_id": 9})
    p = run(d, "pending")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == "2 pending sessions"
    assert lines[1].split()[:2] == ["ID", "BOOK"]
    by_id = {line.split()[0]: line for line in lines[2:4]}
    assert "The Left Hand of Darkness" in by_id[str(with_title["queue_id"])]
    row = by_id[str(without["queue_id"])]
    assert row.split()[1] == OTHER_HASH[:8]
    assert OTHER_HASH[:9] not in row  # the first 8 characters, not the whole hash
    assert "600s" in row
    assert "1 pending deletion" in lines
    assert any("/mnt/onboard/gone.epub" in line and " 9 " in line for line in lines)

    p = run(d, "--json", "pending", "--limit", "1")
    assert p.returncode == 0
    reply = json.loads(p.stdout)
    assert len(reply["sessions"]) == 1 and len(reply["deletions"]) == 1

    empty = Daemon(manual_sync_only=True).start()
    try:
        p = run(empty, "pending")
        assert p.returncode == 0
        assert p.stdout.splitlines() == ["0 pending sessions", "0 pending deletions"]
    finally:
        empty.cleanup()


def test_clear_pending_without_a_terminal_needs_yes(d):
    for i in range(3):
        d.request(session(i))
    p = run(d, "clear-pending")
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert "--yes" in p.stderr
    assert pending_count(d) == 3
    p = run(d, "clear-pending", "--yes")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "cleared 3 pending sessions"
    assert pending_count(d) == 0
    p = run(d, "--json", "clear-pending", "--yes")
    assert p.returncode == 0 and json.loads(p.stdout)["cleared"] == 0


def run_on_terminal(d, answer, *args):
    """Runs syncctl with a pseudo-terminal as stdin/stdout/stderr, answering its prompt."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([str(SYNCCTL), "--socket", str(d.socket), *args],
                            stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    out = b""
    answered = False
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                out += chunk
            if not answered and b"[y/N]" in out:
                os.write(master, answer.encode() + b"\n")
                answered = True
            if proc.poll() is not None and not ready:
                break
        rc = proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    assert answered, f"no confirmation prompt: {out!r}"
    return rc, out.decode(errors="replace").replace("\r\n", "\n")


def test_clear_pending_asks_on_a_terminal(d):
    for i in range(4):
        d.request(session(i))
    rc, out = run_on_terminal(d, "n", "clear-pending")
    assert "Continue? [y/N]" in out
    assert "nothing cleared" in out
    assert rc == 1
    assert pending_count(d) == 4

    rc, out = run_on_terminal(d, "y", "clear-pending")
    assert rc == 0, out
    assert "cleared 4 pending sessions" in out
    assert pending_count(d) == 0


def test_send_session_and_delete_book_queue_events(d):
    p = run(d, "send-session", "--hash", HASH.upper(), "--start", "2026-02-22T14:00:00Z",
            "--end", "1771770600", "--duration", "1500", "--book-id", "42", "--file",
            "/mnt/onboard/b.epub", "--title", "Dune", "--type", "pdf", "--start-progress", "10",
            "--end-progress", "22.5", "--start-location", "12", "--end-location", "p40",
            "--event-id", "ctl-1")
    assert p.returncode == 0, p.stderr
    row = d.sql("SELECT id, event_id, book_id, book_hash, file_path, book_title, book_type, "
                "start_time, end_time, duration_seconds, start_progress, end_progress, "
                "start_location, end_location FROM pending_sessions")
    assert len(row) == 1
    assert p.stdout.strip() == f"queued as session {row[0][0]}"
    assert row[0][1:] == ("ctl-1", 42, HASH, "/mnt/onboard/b.epub", "Dune", "PDF",
                          "2026-02-22T14:00:00Z", "2026-02-22T14:30:00Z", 1500, 10.0, 22.5,
                          "12", "p40")
    again = run(d, "--json", "send-session", "--hash", HASH, "--start", "2026-02-22T14:00:00Z",
                "--end", "1771770600", "--duration", "1500", "--event-id", "ctl-1")
    assert again.returncode == 0
    reply = json.loads(again.stdout)
    assert reply["duplicate"] is True and reply["queue_id"] == row[0][0]
    assert pending_count(d) == 1
    short = run(d, "send-session", "--hash", HASH, "--start", "100", "--end", "110",
                "--duration", "10")
    assert short.returncode == 0 and "too_short" in short.stdout
    assert pending_count(d) == 1

    p = run(d, "delete-book", "--file", "/mnt/onboard/gone.epub", "--hash", OTHER_HASH,
            "--book-id", "5", "--event-id", "del-1")
    assert p.returncode == 0, p.stderr
    rows = d.sql("SELECT id, event_id, file_path, book_hash, book_id FROM pending_deletions")
    assert rows == [(rows[0][0], "del-1", "/mnt/onboard/gone.epub", OTHER_HASH, 5)]
    assert p.stdout.strip() == f"queued as deletion {rows[0][0]}"


def test_daemon_saying_no_exits_1(d):
    p = run(d, "send-session", "--hash", "not-a-hash", "--start", "100", "--end", "800",
            "--duration", "600")
    assert p.returncode == 1, (p.stdout, p.stderr)
    assert "book_hash" in p.stderr and "[invalid_field]" in p.stderr
    assert p.stdout == ""
    p = run(d, "--json", "send-session", "--hash", HASH, "--start", "900", "--end", "800",
            "--duration", "600")
    assert p.returncode == 1
    reply = json.loads(p.stdout)
    assert reply["ok"] is False and reply["error"]["field"] == "end_time"
    p = run(d, "delete-book", "--file", "/x.epub", "--book-id", "0")
    assert p.returncode == 1 and "book_id" in p.stderr
    assert pending_count(d) == 0
    assert d.sql("SELECT count(*) FROM pending_deletions") == [(0,)]


def test_settings_show_and_change(d):
    p = run(d, "settings")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert "  manual_sync_only: yes" in lines
    assert "  ask_before_enabling_wifi: no" in lines
    assert not any("canary" in line for line in lines)
    # A secret is shown only as whether it is set.
    assert all(line.split(":")[0].strip().endswith("password_set")
               for line in lines if "password" in line)
    assert "  password_set: yes" in lines

    p = run(d, "settings", "--manual-sync-only", "off", "--ask-before-enabling-wifi", "on")
    assert p.returncode == 0, p.stderr
    assert "  manual_sync_only: no" in p.stdout.splitlines()
    assert "  ask_before_enabling_wifi: yes" in p.stdout.splitlines()
    stored = dict(d.sql("SELECT key, value FROM settings"))
    assert stored["manual_sync_only"] == "false" and stored["ask_before_enabling_wifi"] == "true"
    reply = json.loads(run(d, "--json", "settings").stdout)
    assert reply["settings"]["manual_sync_only"] is False
    assert reply["settings"]["ask_before_enabling_wifi"] is True

    bad = run(d, "settings", "--manual-sync-only", "maybe")
    assert bad.returncode == 2 and "on or off" in bad.stderr
    assert dict(d.sql("SELECT key, value FROM settings"))["manual_sync_only"] == "false"


def test_config_file_finds_the_socket(d):
    p = ctl("status", config=d.config_path)
    assert p.returncode == 0, p.stderr
    assert "pending sessions:" in p.stdout
    p = ctl("--json", "send-session", "--hash", HASH, "--start", "100", "--end", "800",
            "--duration", "600", config=d.config_path)
    assert p.returncode == 0, p.stderr
    assert pending_count(d) == 1
    missing = ctl("status", config=d.dir / "nope.json")
    assert missing.returncode == 2 and "nope.json" in missing.stderr


def test_socket_from_environment(d):
    env = dict(os.environ, BOOKLORE_SYNCD_SOCKET=str(d.socket))
    p = subprocess.run([str(SYNCCTL), "status"], stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=60, env=env)
    assert p.returncode == 0, p.stderr


def test_exit_3_when_the_daemon_is_not_running(daemon_factory, tmp_path):
    p = ctl("status", socket=tmp_path / "nobody.sock")
    assert p.returncode == 3, (p.stdout, p.stderr)
    assert "cannot reach booklore-syncd" in p.stderr
    d = daemon_factory(manual_sync_only=True).start()
    assert run(d, "status").returncode == 0
    d.kill()  # a stale socket file is left behind: connecting is refused
    assert d.socket.exists()
    for args in (["status"], ["pending"], ["clear-pending", "--yes"],
                 ["send-session", "--hash", HASH, "--start", "100", "--end", "800",
                  "--duration", "600"]):
        p = run(d, *args)
        assert p.returncode == 3, (args, p.stdout, p.stderr)
    p = ctl("status", config=d.config_path)
    assert p.returncode == 3


@pytest.mark.parametrize("args", [
    [],
    ["fly"],
    ["--bogus", "status"],
    ["status", "--bogus"],
    ["status", "extra"],
    ["pending", "--limit"],
    ["send-session", "--start", "100", "--end", "800", "--duration", "600"],
    ["send-session", "--hash", HASH, "--end", "800", "--duration", "600"],
    ["delete-book"],
    ["delete-book", "--hash", HASH],
    ["clear-pending", "--force"],
    ["settings", "--ask-before-enabling-wifi", "sometimes"],
])
def test_usage_errors_exit_2(d, args):
    before = d.sql("SELECT count(*) FROM pending_sessions")
    p = run(d, *args)
    assert p.returncode == 2, (args, p.stdout, p.stderr)
    assert "Usage: booklore-syncctl" in p.stderr
    assert d.sql("SELECT count(*) FROM pending_sessions") == before


def test_usage_errors_need_no_daemon(tmp_path):
    p = ctl("--socket", "x", "--config", "y", "status")
    assert p.returncode == 2
    p = ctl("fly", socket=tmp_path / "nobody.sock")
    assert p.returncode == 2
    help_ = ctl("--help")
    assert help_.returncode == 0 and "clear-pending" in help_.stdout
    assert ctl("--version").stdout.startswith("booklore-syncctl ")
