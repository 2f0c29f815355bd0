"""Request-scoped database sessions (the Flask tutorial's one db module).

The engine is created lazily per process (``stylestudy.db.engine.get_engine`` caches by pid), so a
gunicorn worker forked from the master never shares its pooled connections. Views that
write call ``get_db(write=True)`` (BEGIN IMMEDIATE on SQLite) and ``commit()`` *before*
building their response, so nothing is acknowledged that is not committed; teardown only
rolls back and closes.
"""

from __future__ import annotations

import os

from flask import Flask, current_app, g
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from stylestudy.db.engine import get_engine, new_session

__all__ = ["commit", "engine", "get_db", "init_app"]


def engine() -> Engine:
    """The process's engine. ``DB_POOL_SIZE`` (one connection per request thread) keeps the
    pool from opening and closing overflow connections under load; pooled connections are
    not pinged before each use (a round trip per request): a connection lost to a database
    restart fails one request with a 503 (the client retries) and empties the pool; the
    response path runs once more instead. On PostgreSQL the response statement runs on an
    autocommit twin of this engine with the same pool settings, so a worker holds up to two
    connections per thread."""
    cached = current_app.extensions.get("stylestudy_engine")
    if cached is not None and cached[0] == os.getpid():
        return cached[1]
    size = current_app.config.get("DB_POOL_SIZE")
    pool = {"pool_size": size, "max_overflow": size} if size else {}
    eng = get_engine(current_app.config["DATABASE_URL"], pool_pre_ping=False, **pool)
    current_app.extensions["stylestudy_engine"] = (os.getpid(), eng)
    return eng


def get_db(write: bool = False) -> Session:
    """The request's session; asking for ``write`` after a read session replaces it."""
    s: Session | None = g.get("db")
    if s is not None and (g.db_write or not write):
        return s
    if s is not None:
        s.rollback()
        s.close()
    g.db = new_session(engine(), write=write)
    g.db_write = write
    return g.db


def commit() -> None:
    s: Session | None = g.get("db")
    if s is not None and s.in_transaction():
        s.commit()


def close_db(_exc: BaseException | None = None) -> None:
    s: Session | None = g.pop("db", None)
    if s is not None:
        s.rollback()
        s.close()


def init_app(app: Flask) -> None:
    app.teardown_appcontext(close_db)
