"""Shared fixtures: an isolated stylestudy home, and fresh SQLite or PostgreSQL databases."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, text

from stylestudy.db import engine as db_engine

#: server used by the PostgreSQL tests (trust auth); a fresh database is made per use
PG_ADMIN_URL = os.environ.get("STYLESTUDY_TEST_PG",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """Create an empty PostgreSQL database, yield its URL, drop it afterwards."""
    name = f"stylestudy_test_{secrets.token_hex(6)}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        db_engine.dispose_all()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def home(tmp_path, monkeypatch) -> Iterator[str]:
    """A fresh STYLESTUDY_HOME (SQLite database and asset store inside it)."""
    path = tmp_path / "home"
    monkeypatch.setenv("STYLESTUDY_HOME", str(path))
    monkeypatch.delenv("STYLESTUDY_DATABASE_URL", raising=False)
    monkeypatch.setenv("STYLESTUDY_SECRET", "test-secret")
    yield str(path)
    db_engine.dispose_all()


@pytest.fixture
def pg_url(home, monkeypatch) -> Iterator[str]:
    """A fresh PostgreSQL database, set as STYLESTUDY_DATABASE_URL."""
    with fresh_postgres_database() as url:
        monkeypatch.setenv("STYLESTUDY_DATABASE_URL", url)
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, home, monkeypatch) -> Iterator[str]:
    """Each test runs once on SQLite (in ``home``) and once on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{home}/stylestudy.sqlite3"
        return
    with fresh_postgres_database() as url:
        monkeypatch.setenv("STYLESTUDY_DATABASE_URL", url)
        yield url


@pytest.fixture
def tiny_assets():
    """A function storing two small distinct images; returns their asset ids."""
    import numpy as np

    from stylestudy.db.assets import store_pixels

    def make(engine):
        from stylestudy.db import session_scope

        rng = np.random.default_rng(0)
        with session_scope(engine, write=True) as s:
            a = store_pixels(s, rng.integers(0, 256, (8, 8, 3), dtype=np.uint8), "content")
            b = store_pixels(s, rng.integers(0, 256, (8, 8, 3), dtype=np.uint8), "style")
            s.flush()
            return a.id, b.id

    return make
