"""Issue 12's reader side: tests/packaging/test_release.sh (release.sh from a fresh clone, the Kobo
archive's exact listing, the zip in the stub harness) and tests/packaging/lua/test_settings.lua
(the Settings dialogs, Test connection and the history import, through the KOReader stubs)
against a daemon started without a server and the stand-in on profiles B and G."""
import os
import sqlite3
import stat

import pytest

from harness import CANARY_BL_PASSWORD, CANARY_PASSWORD, HERE, SYNCD, Daemon, run_checks
from standin import Standin

PACKAGING_TESTS = HERE.parent / "packaging"


def test_release_script():
    bin_dir = os.environ.get("BOOKLORE_BIN_DIR")
    assert bin_dir, "BOOKLORE_BIN_DIR must point at the build's daemon/ folder"
    run_checks(["bash", str(PACKAGING_TESTS / "test_release.sh")], {"BOOKLORE_BIN_DIR": bin_dir}, 600)


# KOReader's own schema (koreader/koreader fc888876, plugins/statistics.koplugin/main.lua:406-415
# and :464-478). Three sessions of two books by the 300 s rule, and one too short to count.
STATISTICS_SCHEMA = """
CREATE TABLE book (id integer PRIMARY KEY autoincrement, title text, authors text, notes integer,
    last_open integer, highlights integer, pages integer, series text, language text, md5 text,
    total_read_time integer, total_read_pages integer);
CREATE TABLE page_stat_data (id_book integer, page integer NOT NULL DEFAULT 0,
    start_time integer NOT NULL DEFAULT 0, duration integer NOT NULL DEFAULT 0,
    total_pages integer NOT NULL DEFAULT 0, UNIQUE (id_book, page, start_time),
    FOREIGN KEY(id_book) REFERENCES book(id));
"""
T0 = 1764000000
VISITS = [  # (book, page, start, duration)
    (1, 1, T0, 60), (1, 2, T0 + 60, 60), (1, 3, T0 + 120, 60),   # one session, 180 s
    (2, 1, T0 + 9000, 120), (2, 2, T0 + 10000, 120),              # gap 880 s: two sessions
    (2, 3, T0 + 20000, 10),                                         # too short: skipped
]
EXPECT = {"EXPECT_IMPORTED": "3", "EXPECT_SKIPPED": "1", "EXPECT_BOOKS": "2"}


def write_statistics(path):
    con = sqlite3.connect(str(path))
    con.executescript(STATISTICS_SCHEMA)
    con.execute("INSERT INTO book (id, title, md5) VALUES (1, 'One', ?), (2, 'Two', ?)",
                ("11111111111111111111111111111111", "22222222222222222222222222222222"))
    con.executemany("INSERT INTO page_stat_data VALUES (?, ?, ?, ?, 100)", VISITS)
    con.commit()
    con.close()


@pytest.mark.parametrize("profile", ["B", "G"])
def test_settings_dialogs(profile):
    with Standin(profile, ko_password=CANARY_PASSWORD, bl_password=CANARY_BL_PASSWORD) as server:
        d = Daemon(manual_sync_only=True)
        try:
            # As packaged: the file names only the paths; everything else comes from the reader.
            for key in ("server_url", "username", "password"):
                d.config.pop(key)
            d.write_config()
            d.start()
            write_statistics(d.dir / "statistics.sqlite3")
            env = {
                "BOOKLORE_SOCKET": str(d.socket), "BOOKLORE_TEST_DIR": str(d.dir),
                "STANDIN_URL": server.url, "STANDIN_PROFILE": profile,
                "KO_USER": server.ko_user, "KO_PASSWORD": CANARY_PASSWORD,
                "BL_USER": server.bl_user, "BL_PASSWORD": CANARY_BL_PASSWORD,
                "BOOKLORE_DAEMON": str(SYNCD), **EXPECT,
            }
            run_checks(["luajit", str(PACKAGING_TESTS / "lua" / "test_settings.lua")], env, 300)
            log = d.log_text()
            assert CANARY_PASSWORD not in log and CANARY_BL_PASSWORD not in log, "a password in the log"
            mode = stat.S_IMODE(os.stat(d.database).st_mode)
            assert mode == 0o600, f"the database holds secrets and is mode {mode:o}"
        finally:
            d.cleanup()
