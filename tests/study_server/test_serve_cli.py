"""`stylestudy serve` refuses a database it cannot use with one line and exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PG_ADMIN_URL


def serve_with(url: str, home: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "STYLESTUDY_HOME": home, "STYLESTUDY_DATABASE_URL": url}
    return subprocess.run([sys.executable, "-m", "stylestudy.cli", "serve", "--port", "0"],
                          env=env, capture_output=True, text=True, timeout=120)


def one_line_exit_2(res: subprocess.CompletedProcess) -> str:
    lines = res.stderr.strip().splitlines()
    assert (res.returncode, len(lines), res.stdout) == (2, 1, ""), res.stderr[-2000:]
    assert "Traceback" not in res.stderr
    return lines[0]


@pytest.mark.parametrize("make_url", [
    # nothing listens on port 1; the password must not be printed
    lambda home: "postgresql://ada:hunter2@127.0.0.1:1/study",
    # the SQLite file's folder cannot be made: a file sits where it should be
    lambda home: f"sqlite:///{home}/a-file/stylestudy.sqlite3",
    # a file that is not a database
    lambda home: f"sqlite:///{home}/not-a-database.sqlite3",
], ids=["refused", "no-folder", "not-sqlite"])
def test_bad_database_is_one_line(home, make_url):
    Path(home).mkdir(parents=True, exist_ok=True)
    (Path(home) / "a-file").write_text("x")
    (Path(home) / "not-a-database.sqlite3").write_bytes(b"this is no database\n" * 100)
    line = one_line_exit_2(serve_with(make_url(home), home))
    assert line.startswith("Error: cannot use the database") and "hunter2" not in line


@pytest.mark.postgres
def test_missing_postgres_database_is_one_line(home):
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/stylestudy_no_such_database"
    line = one_line_exit_2(serve_with(url, home))
    assert "stylestudy_no_such_database" in line and "does not exist" in line


@pytest.mark.parametrize("value", ["soon", "1e9"])
def test_bad_request_timeout_is_one_line(home, value):
    env = {**os.environ, "STYLESTUDY_HOME": home, "STYLESTUDY_REQUEST_TIMEOUT": value}
    env.pop("STYLESTUDY_DATABASE_URL", None)
    res = subprocess.run([sys.executable, "-m", "stylestudy.cli", "serve", "--port", "0"],
                         env=env, capture_output=True, text=True, timeout=120)
    line = one_line_exit_2(res)
    assert "STYLESTUDY_REQUEST_TIMEOUT" in line and repr(value) in line
