"""Runs the packaging tests (tests/packaging/test_*.sh: the KOReader plugin's Lua code under
luajit, the init scripts, the systemd unit) against the binaries in BOOKLORE_BIN_DIR, so they are
part of ctest and CI. Each script prints one line per check and "N passed, N failed"."""
import os
import pathlib

import pytest

from harness import run_checks

PACKAGING_TESTS = pathlib.Path(__file__).resolve().parent.parent / "packaging"
# test_release.sh needs more than the binaries (a git clone); test_release.py runs it.
SCRIPTS = sorted(p for p in PACKAGING_TESTS.glob("test_*.sh") if p.name != "test_release.sh")


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.stem for s in SCRIPTS])
def test_packaging_script(script):
    bin_dir = os.environ.get("BOOKLORE_BIN_DIR")
    assert bin_dir, "BOOKLORE_BIN_DIR must point at the build's daemon/ folder"
    run_checks(["bash", str(script)], {"BOOKLORE_BIN_DIR": bin_dir}, 600)

def test_there_are_packaging_scripts():
    names = {s.name for s in SCRIPTS}
    assert {"test_lua.sh", "test_init_scripts.sh", "test_systemd.sh"} <= names
