"""Footprint: memory and wake-ups of an idle daemon with an empty queue, stripped binary sizes."""

import shutil
import subprocess
import time

from benchlib import daemon_class, proc_status


def idle(env, seconds=60.0, settle=2.0):
    """A fresh daemon on an empty queue: VmRSS/VmHWM, then context switches (every thread)
    over `seconds`: each switch is one wake-up or one preemption."""
    d = daemon_class()(workdir=env.scratch("idle"), manual_sync_only=True)
    try:
        d.start()
        time.sleep(settle)  # the start-up's own work is over
        first = proc_status(d.process.pid)
        time.sleep(seconds)
        last = proc_status(d.process.pid)
        return {"status": first, "rss_kib": first["rss_kib"], "threads": last["threads"],
                "seconds": seconds,
                "wakeups_per_min": (last["switches"] - first["switches"]) * 60.0 / seconds}
    finally:
        d.stop()
        d.cleanup()


def binary_sizes(env):
    sizes = {}
    for binary in (env.syncd, env.syncctl):
        copy = env.work_dir / (binary.name + ".stripped")
        shutil.copy(binary, copy)
        subprocess.run(["strip", str(copy)], check=True)
        sizes[binary.name] = {"stripped": copy.stat().st_size, "as_built": binary.stat().st_size}
        copy.unlink()
    libs = subprocess.run(["ldd", str(env.syncd)], capture_output=True, text=True).stdout
    sizes["shared_libraries"] = sorted(line.split()[0] for line in libs.splitlines()
                                       if "=>" in line)
    return sizes
