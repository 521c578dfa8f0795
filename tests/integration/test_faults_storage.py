"""Fault campaign, CI wrapper: the daemon's process and disk (tests/faults/cases_storage.py).

Each case ends with the common check (tests/faults/faultlib.py): every acknowledged event is on
the server or still queued, integrity_check ok, the daemon alive, no secret in any output.
BOOKLORE_FAULTS_LONG=1 runs the long variants; tests/faults/campaign.py prints the table.
"""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "faults"))

import cases_storage  # noqa: E402
from faultlib import report  # noqa: E402


@pytest.mark.parametrize("case", ["sigkill_fsync", "sigkill_drain", "power_cut_drop",
                                  "power_cut_torn"])
def test_crashes_lose_nothing_acknowledged(case, tmp_path):
    record = cases_storage.CASES[case](str(tmp_path))
    report(record)
    assert record["acknowledged"] > 100


@pytest.mark.parametrize("case", [f"{e.lower()}_{s}" for s, e, _ in cases_storage.DISK_CASES])
def test_disk_errors_are_refused_never_acknowledged(case, tmp_path):
    record = cases_storage.CASES[case](str(tmp_path))
    report(record)
    assert record["falsely_acked"] == 0 and record["refused"] == 20


def test_the_power_cut_catches_a_commit_that_was_not_synced(tmp_path):
    seen = cases_storage.power_cut_control(str(tmp_path))
    assert all(acked <= present for acked, present in seen["FULL"]), seen
    assert any(acked > present for acked, present in seen["NORMAL"]), seen


def test_the_secrets_canary_sees_a_leak():
    from faultlib import CANARY_PASSWORD, secret_hits
    import hashlib
    md5 = hashlib.md5(CANARY_PASSWORD.encode()).hexdigest()
    assert secret_hits([("log", f"x-auth-key={md5.upper()}")])
    assert secret_hits([("log", f"password={CANARY_PASSWORD}")])
    assert secret_hits([("log", "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig")])
    assert not secret_hits([("log", "sync_finished uploaded=3 bearer_token_obtained")])
