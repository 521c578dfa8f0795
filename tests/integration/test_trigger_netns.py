"""Network-up as a sync trigger, with netlink from a real kernel: the test thread moves into a
fresh network namespace (unshare(CLONE_NEWNET), as `unshare -n` does), so the daemon, the
stand-in (on 127.0.0.1 there) and `ip` all run inside it; a veth pair plays the WiFi link.

Needs root. The time from `ip route add default` to the first upload request at the stand-in is
printed as MEASURE (the daemon's netlink debounce is 300 ms).
"""

import contextlib
import ctypes
import os
import subprocess
import time

import pytest

from harness import wait_until
from sync_fixtures import server_and_daemon
from test_triggers import (BOOKS, LATE, WIFI_MESSAGE, Subscriber, api_requests, assert_stays,
                           first_request_time, pending, queue, queue_quietly, status)

CLONE_NEWNET = 0x40000000
DEBOUNCE_S = 0.3


def can_unshare():
    if os.geteuid() != 0:
        return False
    return subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0


pytestmark = pytest.mark.skipif(not can_unshare(), reason="needs root and unshare -n")


@contextlib.contextmanager
def own_network_namespace():
    """This thread (and every process it starts) in a new network namespace, until exit."""
    libc = ctypes.CDLL(None, use_errno=True)
    original = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        if libc.unshare(CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNET)")
        try:
            yield
        finally:
            if libc.setns(original, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back to the original namespace")
    finally:
        os.close(original)


def ip(*args):
    result = subprocess.run(["ip", *args], capture_output=True, text=True)
    assert result.returncode == 0, f"ip {' '.join(args)}: {result.stderr.strip()}"
    return result.stdout


@pytest.fixture
def netns():
    with own_network_namespace():
        ip("link", "set", "lo", "up")
        yield


def wifi_link_without_route():
    """A veth (real carrier) up with an address; its peer up without any."""
    ip("link", "add", "wl0", "type", "veth", "peer", "name", "wl0p")
    ip("link", "set", "wl0p", "up")
    ip("addr", "add", "10.0.0.2/24", "dev", "wl0")
    ip("link", "set", "wl0", "up")


def network_is(d, value, timeout=10):
    wait_until(lambda: status(d)["network"] == value, timeout=timeout,
               what=f"status network {value!r}")


def test_network_up_runs_the_resume_sync_that_waited_for_it(netns):
    config = {"manual_sync_only": True, "resume_sync_delay_seconds": 1.5}
    with server_and_daemon("B", books=BOOKS, daemon_config=config) as (server, d):
        network_is(d, "down")  # only loopback: no network
        queue_quietly(d, 3)
        sub = Subscriber(d)

        # The resume delay expires with the network down: a prompt, no request.
        sent = time.time()
        assert d.request({"type": "resume"})["sync_in_seconds"] == 1.5
        at, event = sub.wait("wifi_needed", timeout=1.5 + 10)
        assert at - sent >= 1.5 - 0.01
        assert event == {"event": "wifi_needed", "ask": False, "message": WIFI_MESSAGE}
        st = status(d)
        assert st["network"] == "down" and st["sync"] == "scheduled", st
        assert st["waiting_for_network"] is True and st["next_sync_in_seconds"] is None, st
        assert not api_requests(server)

        # A link with an address but no default route is not a network yet.
        wifi_link_without_route()
        assert_stays(lambda: status(d)["network"] == "down" and not api_requests(server),
                     DEBOUNCE_S + 0.7, "usable without a default route")

        route_added = time.time()
        ip("route", "add", "default", "via", "10.0.0.1")
        first = first_request_time(server, timeout=10)
        latency = first - route_added
        print(f"MEASURE ip route add default -> first upload request: {latency * 1000:.0f} ms "
              f"(netlink debounce {DEBOUNCE_S * 1000:.0f} ms)")
        assert DEBOUNCE_S - 0.05 <= latency < DEBOUNCE_S + LATE
        assert status(d)["network"] == "up"
        wait_until(lambda: pending(d) == 0, what="the queue to drain")
        assert len(server.sessions()) == 3
        sub.wait("sync_finished")
        assert sub.count("wifi_needed") == 1 and sub.count("sync_started") == 1
        st = status(d)
        assert st["sync"] == "idle" and st["waiting_for_network"] is False, st

        # Taking the route away, then the link: down both times.
        ip("route", "del", "default")
        network_is(d, "down")
        ip("route", "add", "default", "via", "10.0.0.1")
        network_is(d, "up")
        ip("link", "set", "wl0", "down")
        network_is(d, "down")
        assert sub.count("sync_started") == 1  # network-up alone, with nothing waiting: no sync
        sub.close()


def test_network_up_cuts_an_armed_resume_delay_short(netns):
    config = {"manual_sync_only": True, "resume_sync_delay_seconds": 60}
    with server_and_daemon("B", books=BOOKS, daemon_config=config) as (server, d):
        network_is(d, "down")
        queue_quietly(d, 2)
        wifi_link_without_route()
        assert d.request({"type": "resume"})["sync_in_seconds"] == 60
        assert status(d)["sync"] == "scheduled"
        route_added = time.time()
        ip("route", "add", "default", "via", "10.0.0.1")
        latency = first_request_time(server, timeout=10) - route_added
        print(f"MEASURE route add with an armed resume -> first request: {latency * 1000:.0f} ms")
        assert latency < DEBOUNCE_S + LATE  # not the 60 s delay
        wait_until(lambda: pending(d) == 0, what="the queue to drain")
        st = status(d)
        assert st["next_sync_in_seconds"] is None and st["sync"] == "idle", st


def test_session_end_with_the_network_down_waits_for_it(netns):
    with server_and_daemon("B", books=BOOKS, daemon_config={"manual_sync_only": False}) \
            as (server, d):
        network_is(d, "down")
        sub = Subscriber(d)
        queue(d, 0, 2)
        sub.wait("wifi_needed", 2)  # one per session end
        assert_stays(lambda: not api_requests(server) and sub.count("wifi_needed") == 2, 1.0,
                     "a request or a prompt too many with the network down")
        assert d.request({"type": "wifi_answer", "enable": False})["ok"]
        wifi_link_without_route()
        ip("route", "add", "default", "via", "10.0.0.1")
        server.wait_for(lambda s: s["counts"]["sessions"] == 2, timeout=10, only=())
        wait_until(lambda: pending(d) == 0, what="the queue to drain")
        assert sub.count("wifi_needed") == 2
        sub.close()


def test_a_reader_hint_holds_until_the_next_netlink_change(netns):
    with server_and_daemon("B", books=BOOKS, daemon_config={"manual_sync_only": False}) \
            as (server, d):
        network_is(d, "down")
        # A reader whose WiFi netlink cannot see (say, a USB network) says it is up.
        assert d.request({"type": "network_up"})["network"] == "up"
        queue(d, 0, 1)
        server.wait_for(lambda s: s["counts"]["sessions"] == 1, timeout=10, only=())
        # The next netlink change wins again: usable (no visible change, it was "up" already),
        # then not usable.
        wifi_link_without_route()
        ip("route", "add", "default", "via", "10.0.0.1")
        wait_until(lambda: "network_usable usable=1" in d.log_text(), what="netlink's report")
        assert status(d)["network"] == "up"
        ip("route", "del", "default")
        network_is(d, "down")
        # And a hint "down" holds until netlink changes again.
        ip("route", "add", "default", "via", "10.0.0.1")
        network_is(d, "up")
        assert d.request({"type": "network_down"})["network"] == "down"
        assert_stays(lambda: status(d)["network"] == "down", DEBOUNCE_S + 0.5,
                     "the hint was overridden without a netlink change")
        downs = d.log_text().count("network_usable usable=0")
        ip("link", "set", "wl0", "down")
        wait_until(lambda: d.log_text().count("network_usable usable=0") > downs,
                   what="netlink's report")
        ip("link", "set", "wl0", "up")
        ip("route", "add", "default", "via", "10.0.0.1")
        network_is(d, "up")
