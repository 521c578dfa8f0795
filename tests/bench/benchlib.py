"""Shared pieces of the benchmarks: paths, the daemon, /proc readers, the machine, statistics."""

import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
INTEGRATION = REPO / "tests" / "integration"
STANDIN = REPO / "tests" / "standin"


class Env:
    """Where the binaries are and where the benchmarks may write (on the disk being measured)."""

    def __init__(self, build_dir, work_dir=None):
        self.build_dir = Path(build_dir).resolve()
        self.bin_dir = self.build_dir / "daemon"
        self.syncd = self.bin_dir / "booklore-syncd"
        self.syncctl = self.bin_dir / "booklore-syncctl"
        if not self.syncd.exists():
            raise SystemExit(f"no {self.syncd}: build first (cmake --build {self.build_dir})")
        # Not /tmp by default: on many machines /tmp is a tmpfs, where fsync costs nothing.
        self.work_dir = Path(work_dir or self.build_dir / "bench-work").resolve()
        self.work_dir.mkdir(parents=True, exist_ok=True)
        os.environ["BOOKLORE_BIN_DIR"] = str(self.bin_dir)
        self.bench_ingest = self._bench_ingest()

    def _bench_ingest(self):
        # Built by CMake with the project's socket client (tests/bench/CMakeLists.txt).
        subprocess.run(["cmake", "--build", str(self.build_dir), "--target", "bench_ingest"],
                       check=True, stdout=subprocess.DEVNULL)
        return self.build_dir / "tests" / "bench" / "bench_ingest"

    def scratch(self, name):
        """A fresh directory under the work dir; short, since a socket path has 107 bytes."""
        path = self.work_dir / name
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        return path


def daemon_class():
    """harness.Daemon, imported after Env set BOOKLORE_BIN_DIR."""
    import sys
    sys.path.insert(0, str(INTEGRATION))
    sys.path.insert(0, str(STANDIN))
    import harness
    return harness.Daemon


def run_ingest(env, socket_path, clients, seconds=None, total=None, books=1, book_id_base=0,
               run="r"):
    args = [str(env.bench_ingest), "--socket", str(socket_path), "--clients", str(clients),
            "--books", str(books), "--book-id-base", str(book_id_base), "--run", run]
    args += ["--seconds", str(seconds)] if seconds else ["--total", str(total)]
    out = subprocess.run(args, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"bench_ingest failed: {out.stderr.strip()}")
    return json.loads(out.stdout)


# ---------------------------------------------------------------------------------- /proc


def proc_status(pid):
    """VmRSS / VmHWM and its anonymous and file-backed parts and the PSS in KiB, threads, and
    context switches summed over every thread."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    switches = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        for line in (task / "status").read_text().splitlines():
            if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                switches += int(line.split(":")[1])
    pss = 0
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                pss = int(line.split()[1])
    except OSError:
        pass

    def kib_of(key):
        return int(fields.get(key, "0 kB").split()[0])

    return {"rss_kib": kib_of("VmRSS"), "hwm_kib": kib_of("VmHWM"), "anon_kib": kib_of("RssAnon"),
            "file_kib": kib_of("RssFile"), "pss_kib": pss, "threads": int(fields["Threads"]),
            "switches": switches}


def proc_cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_accepting(path, process, timeout=30.0):
    """Polls connect() every 0.5 ms until the socket accepts; returns the time it took."""
    start = time.monotonic()
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"daemon exited with {process.returncode}")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(str(path))
            return time.monotonic() - start
        except OSError:
            if time.monotonic() - start > timeout:
                raise TimeoutError("the daemon's socket never accepted")
            time.sleep(0.0005)
        finally:
            s.close()


# ---------------------------------------------------------------------------------- machine


def machine(work_dir):
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    src = subprocess.run(["findmnt", "-n", "-o", "SOURCE,FSTYPE,OPTIONS", "-T", str(work_dir)],
                         capture_output=True, text=True).stdout.split()
    disk = " ".join(src[:2]) if src else "unknown"
    dev = Path(src[0]).name if src and src[0].startswith("/dev/") else None
    if dev:
        block = Path("/sys/class/block") / dev
        queue = (block.parent if (block / "partition").exists() else block) / "queue"
        if not queue.exists() and (block / "..").exists():
            queue = block.resolve().parent / "queue"
        try:
            cache = (queue / "write_cache").read_text().strip()
            rot = (queue / "rotational").read_text().strip()
            disk += f" (write cache: {cache}, rotational={rot})"
        except OSError:
            pass
    kernel = platform.release()
    return {"nproc": os.cpu_count(), "cpu": cpu, "memory": f"{mem_kib // 1024} MiB",
            "disk": f"{disk}; work dir {work_dir}", "kernel": kernel,
            "sqlite": subprocess.run(["sqlite3", "--version"], capture_output=True,
                                     text=True).stdout.split()[0]}


# ---------------------------------------------------------------------------------- figures


def median(values):
    return statistics.median(values)


def spread(values, fmt="{:.0f}"):
    """'median (min–max)' of repeated measurements."""
    if len(values) == 1:
        return fmt.format(values[0])
    return f"{fmt.format(median(values))} ({fmt.format(min(values))}–{fmt.format(max(values))})"


def kib(value):
    return f"{value / 1024:.1f} MiB"
