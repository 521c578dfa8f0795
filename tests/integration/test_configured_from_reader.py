"""The daemon starts without a server and is set up over the socket (INTERFACE.md "Configured
from the reader", `set_settings` with the server settings)."""

import hashlib
import os
import stat
import subprocess

import pytest

from harness import CANARY_BL_PASSWORD, CANARY_PASSWORD, SYNCCTL, SYNCD, Daemon, session
from standin import Standin

BOOK = hashlib.md5(b"configured-book").hexdigest()
SECRETS = (CANARY_PASSWORD, CANARY_BL_PASSWORD, hashlib.md5(CANARY_PASSWORD.encode()).hexdigest())


@pytest.fixture
def unconfigured():
    d = Daemon(manual_sync_only=True)
    for key in ("server_url", "username", "password"):
        d.config.pop(key)
    d.write_config()
    d.start()
    yield d
    d.cleanup()


@pytest.fixture
def server():
    with Standin("B", books=[(7, BOOK)], ko_password=CANARY_PASSWORD,
                 bl_password=CANARY_BL_PASSWORD) as s:
        yield s


def no_secret_in(text):
    for secret in SECRETS:
        assert secret not in text


def queue(d, count):
    c = d.client()
    try:
        for i in range(count):
            reply = c.call(session(i, book_hash=BOOK, event_id=f"cfg-{i}"))
            assert reply["ok"] and reply["queued"], reply
    finally:
        c.close()


def server_settings(server):
    return {"server_url": server.url, "username": "kouser", "password": CANARY_PASSWORD,
            "booklore_username": "bluser", "booklore_password": CANARY_BL_PASSWORD}


def test_without_a_server_it_queues_and_says_no_server_is_configured(unconfigured):
    queue(unconfigured, 3)
    status = unconfigured.request({"type": "status"})
    assert status["pending_sessions"] == 3
    assert "no server is configured" in status["last_sync"]["result"]["error"]
    assert status["settings"]["server_configured"] is False
    result = unconfigured.request({"type": "sync_now"})["result"]
    assert result["sessions_uploaded"] == 0
    assert "no server is configured" in result["error"]
    assert unconfigured.sql("SELECT count(*) FROM pending_sessions")[0][0] == 3


@pytest.mark.parametrize("bad, field", [
    ({"server_url": "books.example"}, "server_url"),
    ({"server_url": "https://books.example", "password_md5": "xyz"}, "password_md5"),
    ({"booklore_username": "bluser"}, "booklore_password"),
    ({"deletion_mode": "unshelve"}, "shelf_id"),
    ({"shelf_id": "7"}, "shelf_id"),
    ({"ca_file": "/nonexistent/ca.pem"}, "ca_file"),
    ({"batch_size": 5}, "batch_size"),
])
def test_a_bad_setting_is_refused_naming_it_and_changes_nothing(unconfigured, bad, field):
    before = unconfigured.request({"type": "status"})["settings"]
    reply = unconfigured.request({"type": "set_settings", "manual_sync_only": False, **bad})
    assert reply["ok"] is False
    assert reply["error"]["code"] == "invalid_field"
    assert reply["error"]["field"] == field
    assert unconfigured.request({"type": "status"})["settings"] == before
    assert unconfigured.sql("SELECT count(*) FROM settings")[0][0] == 0


def test_good_settings_upload_the_queue_and_survive_a_restart(unconfigured, server):
    d = unconfigured
    queue(d, 4)
    reply = d.request({"type": "set_settings", **server_settings(server)})
    assert reply["ok"], reply
    settings = reply["settings"]
    assert settings["server_url"] == server.url
    assert settings["password_set"] is True and settings["booklore_password_set"] is True
    no_secret_in(str(reply))
    assert stat.S_IMODE(os.stat(d.database).st_mode) == 0o600

    result = d.request({"type": "sync_now"})["result"]
    assert result["sessions_uploaded"] == 4, result
    assert len(server.sessions()) == 4

    assert d.stop() == 0
    d.start()
    status = d.request({"type": "status"})
    assert status["settings"]["server_url"] == server.url
    assert status["settings"]["password_set"] is True
    no_secret_in(str(status))
    no_secret_in(d.log_text())
    queue_more = session(10, book_hash=BOOK, event_id="cfg-after-restart")
    assert d.request(queue_more)["queued"]
    assert d.request({"type": "sync_now"})["result"]["sessions_uploaded"] == 1
    # The database keeps what the daemon needs (the key's MD5, the BookLore password) but
    # never the KOReader password itself.
    assert CANARY_PASSWORD.encode() not in d.database.read_bytes()


def test_an_empty_string_removes_a_stored_setting(unconfigured, server):
    d = unconfigured
    assert d.request({"type": "set_settings", **server_settings(server)})["ok"]
    reply = d.request({"type": "set_settings", "booklore_username": "",
                       "booklore_password": ""})
    assert reply["ok"], reply
    assert reply["settings"]["booklore_username"] is None
    assert reply["settings"]["booklore_password_set"] is False
    assert d.sql("SELECT count(*) FROM settings WHERE key LIKE 'booklore_%'")[0][0] == 0


def test_syncctl_settings_reads_the_password_from_stdin(unconfigured, server):
    d = unconfigured
    done = d.ctl("settings", "--server-url", server.url, "--username", "kouser",
                 "--password-stdin", input=CANARY_PASSWORD + "\n")
    assert done.returncode == 0, done.stderr
    no_secret_in(done.stdout + done.stderr)
    queue(d, 1)
    assert d.request({"type": "sync_now"})["result"]["sessions_uploaded"] == 1
    refused = d.ctl("settings", "--server-url", "nope")
    assert refused.returncode == 1
    assert "server_url" in refused.stderr
    # Without a controlling terminal (setsid) there is nobody to ask.
    no_tty = subprocess.run(["setsid", "-w", str(SYNCCTL), "--socket", str(d.socket), "settings",
                             "--password"], capture_output=True, text=True, timeout=30)
    assert no_tty.returncode == 2
    assert "--password-stdin" in no_tty.stderr


@pytest.mark.parametrize("key, value", [("ca_file", "/nonexistent/ca.pem"),
                                        ("server_url", "https://books.example:99999")])
def test_check_config_finds_what_the_network_layer_cannot_use(key, value):
    d = Daemon(**{key: value})
    try:
        for args in (["--check-config"], []):
            p = subprocess.run([str(SYNCD), "--config", str(d.config_path), *args],
                               capture_output=True, text=True, timeout=30)
            assert p.returncode == 2, p
            assert key in p.stderr
    finally:
        d.cleanup()
