"""Engine and session factory: SQLite (WAL, busy timeout, foreign keys) or PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session

from stylestudy import config
from stylestudy.errors import UserError

SQLITE_BUSY_TIMEOUT_MS = 5000

_engines: dict[tuple, Engine] = {}
_made_with: dict[Engine, tuple[str | URL, dict]] = {}
_twins: dict[Engine, Engine] = {}


def _sqlite_connect(dbapi_connection, _record) -> None:
    # Autocommit at the driver level; SQLAlchemy's "begin" event issues BEGIN itself.
    dbapi_connection.isolation_level = None
    cur = dbapi_connection.cursor()
    cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA journal_mode = WAL")
    cur.execute("PRAGMA synchronous = NORMAL")
    cur.execute("PRAGMA foreign_keys = ON")
    cur.close()


def _sqlite_begin(conn) -> None:
    # Writers lock eagerly (BEGIN IMMEDIATE) instead of failing on a lock upgrade.
    immediate = conn.get_execution_options().get("sqlite_immediate", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def make_engine(url: str | URL | None = None, **kwargs) -> Engine:
    """Create an engine for ``url`` (default: the configured database), with our settings."""
    url = url or config.database_url()
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise UserError(f"invalid database URL {url!r}: {exc}") from None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
                               **kwargs)
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
    elif parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        kwargs.setdefault("pool_pre_ping", True)
        engine = create_engine(parsed, **kwargs)
    else:
        raise UserError(f"unsupported database {parsed.get_backend_name()!r}: "
                        "use sqlite:/// or postgresql://")
    return engine


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def get_engine(url: str | URL | None = None, **kwargs) -> Engine:
    """The process's engine for ``url``, migrated to the latest schema on first use.

    Engines are cached per process id, URL and ``kwargs`` (pool settings), so a forked
    worker (gunicorn, multiprocessing) never reuses its parent's pooled connections.
    """
    url = url or config.database_url()
    key = (os.getpid(), url, tuple(sorted(kwargs.items())))
    engine = _engines.get(key)
    if engine is None:
        from stylestudy.db.migrate import upgrade

        engine = make_engine(url, **kwargs)
        upgrade(engine)
        _engines[key] = engine
        _made_with[engine] = (url, kwargs)
    return engine


def autocommit_twin(engine: Engine) -> Engine:
    """An engine of :func:`get_engine` on the same database and pool settings whose
    connections stay in autocommit, for statements that are atomic alone (no BEGIN or
    COMMIT, and no switching a pooled connection in and out of autocommit per use)."""
    twin = _twins.get(engine)
    if twin is None:
        url, kwargs = _made_with.get(engine, (engine.url, {}))
        twin = _twins[engine] = get_engine(url, **{**kwargs, "isolation_level": "AUTOCOMMIT"})
    return twin


def dispose_all() -> None:
    for engine in _engines.values():
        engine.dispose()
    _engines.clear()
    _made_with.clear()
    _twins.clear()


def new_session(engine: Engine, write: bool = False) -> Session:
    """A plain ``Session`` on ``engine`` (a ``sessionmaker`` per call would build a new
    class and its event dispatch each time: a fifth of a response's Python calls)."""
    bind = engine.execution_options(sqlite_immediate=True) if write and is_sqlite(engine) \
        else engine
    return Session(bind=bind, expire_on_commit=False)


@contextmanager
def session_scope(engine: Engine | None = None, write: bool = False) -> Iterator[Session]:
    """A session that commits on success and rolls back on error.

    ``write=True`` takes SQLite's write lock at BEGIN (BEGIN IMMEDIATE); on PostgreSQL it
    is an ordinary transaction.
    """
    engine = engine or get_engine()
    session = new_session(engine, write)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
