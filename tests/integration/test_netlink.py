"""netlink_monitor against a real kernel: tests/net/netlink_watch runs in a fresh network
namespace (`unshare -n`) while `ip` (through nsenter) changes links, addresses and routes.

Needs root (network namespaces). The binary comes from $NETLINK_WATCH, or from the build tree
next to $BOOKLORE_BIN_DIR (build/daemon -> build/tests/net/netlink_watch).
"""

import os
import pathlib
import selectors
import shutil
import subprocess
import time

import pytest

DEBOUNCE_MS = 300
# A window in which nothing may be reported: several debounce periods.
QUIET_S = 3 * DEBOUNCE_MS / 1000 + 0.3


def watch_binary():
    explicit = os.environ.get("NETLINK_WATCH")
    if explicit:
        return pathlib.Path(explicit)
    bin_dir = os.environ.get("BOOKLORE_BIN_DIR")
    if not bin_dir:
        pytest.fail("set BOOKLORE_BIN_DIR (build/daemon) or NETLINK_WATCH")
    return pathlib.Path(bin_dir).parent / "tests" / "net" / "netlink_watch"


def can_unshare():
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("nsenter"):
        return False
    return subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0


pytestmark = pytest.mark.skipif(not can_unshare(), reason="needs root and unshare -n")


class Watch:
    """netlink_watch in its own network namespace, with `ip` run inside that namespace."""

    def __init__(self, debounce_ms=DEBOUNCE_MS):
        binary = watch_binary()
        assert binary.exists(), f"{binary} not built"
        self.proc = subprocess.Popen(
            ["unshare", "-n", str(binary), "--debounce-ms", str(debounce_ms)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.proc.stdout, selectors.EVENT_READ)
        self.buffer = b""

    def netns(self):
        # unshare execs the program, so its pid owns the namespace.
        return f"--net=/proc/{self.proc.pid}/ns/net"

    def ip(self, *args, check=True):
        result = subprocess.run(["nsenter", self.netns(), "ip", *args],
                                capture_output=True, text=True)
        if check and result.returncode != 0:
            raise AssertionError(f"ip {' '.join(args)}: {result.stderr.strip()}")
        return result

    def next_line(self, timeout):
        """The next stdout line, or None if none arrives within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not self.selector.select(left):
                return None
            chunk = os.read(self.proc.stdout.fileno(), 4096)
            if not chunk:
                return None
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line.decode()

    def expect(self, value, timeout=10):
        line = self.next_line(timeout)
        assert line == f"usable={value}", f"expected usable={value}, got {line!r}"
        return time.monotonic()

    def expect_quiet(self):
        line = self.next_line(QUIET_S)
        assert line is None, f"unexpected report {line!r}"

    def context_switches(self):
        status = pathlib.Path(f"/proc/{self.proc.pid}/status").read_text()
        fields = dict(l.split(":", 1) for l in status.splitlines() if ":" in l)
        return (int(fields["voluntary_ctxt_switches"]),
                int(fields["nonvoluntary_ctxt_switches"]))

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        stderr = self.proc.stderr.read().decode(errors="replace")
        self.proc.stdout.close()
        self.proc.stderr.close()
        return stderr


@pytest.fixture
def watch():
    w = Watch()
    yield w
    stderr = w.close()
    print(stderr[-3000:])


def add_link(watch, name):
    """A veth pair has real carrier and IPv6 DAD; its peer stays without addresses."""
    watch.ip("link", "add", name, "type", "veth", "peer", "name", name + "p")
    watch.ip("link", "set", name + "p", "up")


def test_ipv4_default_route_makes_the_network_usable(watch):
    watch.expect(0)  # start-up report: only lo, and it is down

    watch.ip("link", "set", "lo", "up")
    watch.expect_quiet()  # loopback alone is no network

    add_link(watch, "d0")
    watch.ip("addr", "add", "10.0.0.2/24", "dev", "d0")
    watch.ip("link", "set", "d0", "up")
    watch.expect_quiet()  # address but no default route

    start = time.monotonic()
    watch.ip("route", "add", "default", "via", "10.0.0.1")
    latency = watch.expect(1) - start
    print(f"MEASURE ipv4 route add -> usable=1: {latency * 1000:.0f} ms "
          f"(debounce {DEBOUNCE_MS} ms)")
    assert DEBOUNCE_MS / 1000 <= latency < DEBOUNCE_MS / 1000 + 2

    # A replaced route (new gateway) stays usable, and deleting it leaves nothing stale behind.
    watch.ip("route", "replace", "default", "via", "10.0.0.3")
    watch.expect_quiet()

    start = time.monotonic()
    watch.ip("route", "del", "default")
    latency = watch.expect(0) - start
    print(f"MEASURE route del -> usable=0: {latency * 1000:.0f} ms")

    watch.ip("route", "add", "default", "via", "10.0.0.1")
    watch.expect(1)
    watch.ip("link", "set", "d0", "down")
    watch.expect(0)

    # Up again: the kernel flushed the IPv4 default route when the link went down.
    watch.ip("link", "set", "d0", "up")
    watch.expect_quiet()
    assert "default" not in watch.ip("route", "show").stdout

    watch.ip("route", "add", "default", "via", "10.0.0.1")
    watch.expect(1)
    watch.ip("link", "del", "d0")
    watch.expect(0)


def global_v6(watch, dev):
    return watch.ip("-6", "addr", "show", "dev", dev, "scope", "global").stdout


def test_ipv6_waits_for_duplicate_address_detection(watch):
    watch.expect(0)
    watch.ip("link", "set", "lo", "up")
    add_link(watch, "d6")
    watch.ip("link", "set", "d6", "up")
    watch.ip("-6", "addr", "add", "2001:db8::2/64", "dev", "d6")
    tentative = "tentative" in global_v6(watch, "d6")
    start = time.monotonic()
    watch.ip("-6", "route", "add", "default", "via", "2001:db8::1", "dev", "d6")
    latency = watch.expect(1) - start
    print(f"MEASURE ipv6 route add -> usable=1: {latency * 1000:.0f} ms "
          f"(address tentative at route add: {tentative})")
    assert "tentative" not in global_v6(watch, "d6")

    watch.ip("-6", "route", "del", "default")
    watch.expect(0)


def test_an_idle_monitor_does_not_wake_up(watch):
    watch.expect(0)
    # Without IPv6 the kernel has nothing late to announce (link-local DAD, router
    # solicitations), so any wake-up in the window would be the monitor's own.
    subprocess.run(["nsenter", watch.netns(), "sysctl", "-qw",
                    "net.ipv6.conf.default.disable_ipv6=1"], check=True)
    watch.ip("link", "set", "lo", "up")
    add_link(watch, "d0")
    watch.ip("addr", "add", "10.0.0.2/24", "dev", "d0")
    watch.ip("link", "set", "d0", "up")
    watch.ip("route", "add", "default", "via", "10.0.0.1")
    watch.expect(1)
    before = watch.context_switches()
    watch.expect_quiet()  # a second with no network change
    # One late wake-up may follow the last change (a sanitizer build's slower start, an IPv6
    # link event); polling would show many.
    voluntary, involuntary = watch.context_switches()
    assert voluntary - before[0] <= 1 and involuntary - before[1] <= 1, \
        "the monitor woke up while idle"


def test_unavailable_netlink_is_reported_once(tmp_path):
    """Without netlink (a sandbox), the program says so and exits instead of guessing."""
    if not shutil.which("strace"):
        pytest.skip("needs strace to inject the socket failure")
    result = subprocess.run(
        ["strace", "-f", "-o", "/dev/null", "-e", "inject=socket:error=EAFNOSUPPORT",
         str(watch_binary())], capture_output=True, text=True, timeout=30,
        env={**os.environ, "ASAN_OPTIONS": "detect_leaks=0"})  # LeakSanitizer refuses ptrace
    assert result.returncode == 1
    assert result.stdout.startswith("unavailable ")
    assert result.stderr.count("netlink_unavailable") == 1
