"""check_server and `booklore-syncctl check-server` (issue 10): what works on the configured
server and what to change, without storing anything there."""

import json

import pytest

from sync_fixtures import HASHES, server_and_daemon

BOOKS = [(101, HASHES[0])]
# batch endpoint, hash lookup, by profile (reference/server-contract.md §0)
FEATURES = {"G": (False, False), "A": (False, False), "W": (True, True), "B": (True, True),
            "B0": (True, True)}


def without_account(d):
    """Starts the daemon configured with the KOReader account only."""
    d.config.pop("booklore_username")
    d.config.pop("booklore_password")
    d.write_config()
    d.start()


def check(d):
    reply = d.request({"type": "check_server"})
    assert reply["ok"], reply
    return reply["server"]


@pytest.mark.parametrize("profile", sorted(FEATURES))
def test_every_profile_is_described(profile):
    with server_and_daemon(profile, books=BOOKS) as (server, d):
        found = check(d)
        batch, by_hash = FEATURES[profile]
        assert found == {"reachable": True, "koreader_account": "ok", "booklore_account": "ok",
                         "batch_endpoint": batch, "hash_lookup": by_hash, "exactly_once": True,
                         "message": found["message"]}, found
        assert found["message"].startswith("Everything works") or "hash" in found["message"]
        assert server.sessions() == []  # nothing stored by the probes


def test_what_to_change_is_said():
    with server_and_daemon("G", books=BOOKS, daemon_config={"booklore_password": "wrong"}) as (server, d):
        found = check(d)
        assert found["booklore_account"] == "refused"
        assert "booklore_password" in found["message"]
        out = d.ctl("check-server")
        assert out.returncode == 0 and "booklore_account: refused" in out.stdout, out
        assert server.state(only=())["login"]["attempts"] == 2  # one per manual request
    with server_and_daemon("B", books=BOOKS, start=False, ko_password="other") as (server, d):
        without_account(d)
        found = check(d)
        assert found["koreader_account"] == "refused" and found["booklore_account"] == "not_set"
        assert "username and password" in found["message"]
    with server_and_daemon("B", books=BOOKS, start=False) as (server, d):
        d.config["server_url"] = server.url + "/booklore"
        d.write_config()
        d.start()
        found = check(d)
        assert found["reachable"] and "server_url" in found["message"], found
        server.stop()
        found = check(d)
        assert not found["reachable"] and "check server_url" in found["message"]
        out = d.ctl("--json", "check-server")
        assert json.loads(out.stdout)["server"]["reachable"] is False


def test_without_a_booklore_account_the_user_hears_about_at_least_once():
    with server_and_daemon("B", books=BOOKS, start=False) as (server, d):
        without_account(d)
        found = check(d)
        assert not found["exactly_once"] and "stored twice" in found["message"]
        d.request({"type": "network_down"})
        found = check(d)
        assert not found["reachable"] and "network is down" in found["message"]
