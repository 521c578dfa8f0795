"""Fault campaign, CI wrapper: the server's answers, the network, the clock
(tests/faults/cases_server.py). Same common check as test_faults_storage.py."""

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "faults"))

import cases_server  # noqa: E402
from faultlib import report  # noqa: E402

SERVER = ["http_500", "http_429", "hang", "drop_after_commit", "html_200", "wrong_certificate"]
CLOCK = ["clock_2001", "clock_2001_tls", "clock_plus_year"]


@pytest.mark.parametrize("case", SERVER)
def test_server_faults_lose_nothing(case, tmp_path):
    record = cases_server.CASES[case](str(tmp_path))
    report(record)
    assert record["uploaded"] == record["acknowledged"] > 0
    # A lost reply (hang, drop after commit) is reconciled with the server's list before the
    # rows are sent again: nothing is stored twice (INTERFACE.md "Exactly once").
    assert record["twice"] == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root for a network namespace")
def test_network_cut_mid_request(tmp_path):
    record = cases_server.CASES["network_cut"](str(tmp_path))
    report(record)
    assert record["uploaded"] == record["acknowledged"] > 0
    assert record["twice"] == 0


@pytest.mark.parametrize("case", CLOCK)
def test_wall_clock_jumps_lose_nothing(case, tmp_path):
    record = cases_server.CASES[case](str(tmp_path))
    report(record)
    assert record["uploaded"] == record["acknowledged"] > 0
