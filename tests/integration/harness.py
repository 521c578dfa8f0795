"""Starts the real booklore-syncd on a temporary socket and database, and talks to it."""

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "standin"))

BIN_DIR = Path(os.environ.get("BOOKLORE_BIN_DIR", HERE.parents[1] / "build" / "daemon"))
SYNCD = BIN_DIR / "booklore-syncd"
SYNCCTL = BIN_DIR / "booklore-syncctl"

# A password and a token nobody else would write: the secrets canary greps logs for them.
CANARY_PASSWORD = "canary-Pw-7f3a9"
CANARY_BL_PASSWORD = "canary-BL-51c2e"


def wait_until(predicate, timeout=10.0, interval=0.02, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def run_checks(cmd, env, timeout):
    """Runs a script that prints ok/FAIL lines and "N passed, N failed"; asserts on it."""
    proc = subprocess.run(cmd, env=dict(os.environ, **env), stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=timeout)
    print(proc.stdout)
    failures = [line for line in proc.stdout.splitlines() if line.startswith("FAIL")]
    assert proc.returncode == 0 and not failures, (
        f"{cmd[-1]} exited {proc.returncode}; failed checks:\n" + "\n".join(failures)
        + "\n\nfull output:\n" + proc.stdout[-20000:])
    assert " passed, 0 failed" in proc.stdout


class Client:
    """One connection speaking the line protocol."""

    def __init__(self, path, timeout=30.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(path))
        self.buffer = b""

    def send_raw(self, data: bytes):
        self.sock.sendall(data)

    def send(self, obj):
        self.send_raw(json.dumps(obj).encode() + b"\n")

    def recv(self):
        line = self.recv_line()
        return None if line is None else json.loads(line)

    def recv_line(self):
        while b"\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line

    def call(self, obj):
        """Sends a request and returns its reply, skipping event lines."""
        self.send(obj)
        while True:
            msg = self.recv()
            if msg is None or "event" not in msg:
                return msg

    def close(self):
        self.sock.close()


class Daemon:
    def __init__(self, server_url="http://127.0.0.1:9", workdir=None, **config):
        # Short paths: a Unix socket path must fit in 107 bytes.
        self.dir = Path(workdir or tempfile.mkdtemp(prefix="bls-"))
        self.socket = self.dir / "syncd.sock"
        self.database = self.dir / "queue.sqlite"
        self.config_path = self.dir / "config.json"
        self.log_path = self.dir / "stderr.log"
        self.config = {
            "server_url": server_url,
            "username": "kouser",
            "password": CANARY_PASSWORD,
            "database": str(self.database),
            "socket": str(self.socket),
            "min_session_seconds": 30,
            "request_timeout_seconds": 5,
        }
        self.config.update(config)
        self.database = Path(self.config["database"])
        self.socket = Path(self.config["socket"])
        self.process = None
        self.write_config()

    def write_config(self):
        self.config_path.write_text(json.dumps(self.config, indent=2))
        os.chmod(self.config_path, 0o600)

    def start(self, wait=True, extra_env=None):
        env = dict(os.environ)
        env.update(extra_env or {})
        self.log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [str(SYNCD), "--config", str(self.config_path)],
            stdout=self.log, stderr=self.log, env=env)
        if wait:
            wait_until(self.accepting, timeout=20, what="the daemon's socket")
        return self

    def accepting(self):
        if self.process.poll() is not None:
            raise AssertionError(f"daemon exited with {self.process.returncode}:\n{self.log_text()}")
        try:
            c = Client(self.socket, timeout=2)
            c.close()
            return True
        except OSError:
            return False

    def alive(self):
        return self.process is not None and self.process.poll() is None

    def client(self, timeout=30.0):
        return Client(self.socket, timeout)

    def request(self, obj):
        c = self.client()
        try:
            return c.call(obj)
        finally:
            c.close()

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError("daemon did not stop within %ss" % timeout)
        self.log.close()
        return self.process.returncode

    def kill(self):
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
            self.log.close()

    def sql(self, query, params=()):
        con = sqlite3.connect(str(self.database), timeout=10)
        try:
            return con.execute(query, params).fetchall()
        finally:
            con.close()

    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def ctl(self, *args, input=None, timeout=60):
        return subprocess.run([str(SYNCCTL), "--socket", str(self.socket), *args],
                              capture_output=True, text=True, input=input, timeout=timeout)

    def cleanup(self):
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()


def session(n=0, book_hash="0123456789abcdef0123456789abcdef", **fields):
    """A valid session_end request; `n` varies the times so each one is distinct."""
    start = 1_767_225_600 + n * 3600  # 2026-01-01T00:00:00Z
    req = {
        "type": "session_end",
        "book_hash": book_hash,
        "start_time": start,
        "end_time": start + 600,
        "duration_seconds": 600,
        "start_progress": 10.0,
        "end_progress": 12.5,
        "start_location": "10",
        "end_location": "12",
        "title": f"Book {book_hash[:4]}",
    }
    req.update(fields)
    return req
