"""Fault campaign, CI wrapper: the Unix socket (tests/faults/cases_socket.py): 1,000
connections, one byte a second, and 60 s of libFuzzer on the line parser (BOOKLORE_FUZZ_SECONDS
changes it; BOOKLORE_FAULTS_LONG=1 makes it 10 minutes)."""

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "faults"))

import cases_socket  # noqa: E402
import tools  # noqa: E402
from faultlib import report  # noqa: E402


def test_a_thousand_connections_at_once(tmp_path):
    report(cases_socket.flood(str(tmp_path)))


def test_one_byte_a_second_does_not_block_others(tmp_path):
    report(cases_socket.slowloris(str(tmp_path)))


SANITIZED = os.environ.get("BOOKLORE_SANITIZED", "").lower() in ("1", "on", "true")


@pytest.mark.skipif(tools.clang() is None, reason="clang++ with libFuzzer is not installed")
@pytest.mark.skipif(SANITIZED, reason="the fuzzer has its own ASan+UBSan build; once is enough")
def test_fuzz_the_line_parser(tmp_path):
    report(cases_socket.fuzz(str(tmp_path)))
