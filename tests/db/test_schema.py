"""The schema migrates on first use and enforces its constraints, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from stylestudy.db import get_engine, session_scope
from stylestudy.db.migrate import current_revision, head_revision
from stylestudy.db.models import Base, Generation, Method

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_first_use_migrates_to_head(db_url):
    engine = get_engine(db_url)
    assert current_revision(engine) == head_revision(engine)
    tables = set(inspect(engine).get_table_names())
    assert set(Base.metadata.tables) <= tables


def test_migration_matches_models(db_url):
    """Autogenerate finds nothing to do: the migration creates exactly the models."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = get_engine(db_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_migrations_step_up_and_down(db_url, home):
    """Each revision applies on the one before it and its downgrade undoes it."""
    from pathlib import Path

    from alembic import command
    from sqlalchemy import create_engine

    from stylestudy.db.migrate import alembic_config, upgrade

    Path(home).mkdir(parents=True, exist_ok=True)
    engine = create_engine(db_url)

    def event_columns() -> set[str]:
        return {c["name"] for c in inspect(engine).get_columns("session_event")}

    def chose_a_nullable() -> bool:
        return next(c["nullable"] for c in inspect(engine).get_columns("response")
                    if c["name"] == "chose_a")

    def downgrade(to: str) -> None:
        with engine.begin() as conn:
            cfg = alembic_config(engine)
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, to)

    def tables() -> set[str]:
        return set(inspect(engine).get_table_names())

    def has_cohort() -> bool:
        return "cohort" in {c["name"] for c in inspect(engine).get_columns("session")}

    upgrade(engine, "0001")
    assert current_revision(engine) == "0001" and "event_id" not in event_columns()
    assert not chose_a_nullable() and not {"bonus", "design_round"} & tables()
    assert not has_cohort()
    upgrade(engine)
    assert current_revision(engine) == head_revision(engine)
    assert {"event_id", "client_time"} <= event_columns() and chose_a_nullable()
    assert {"bonus", "design_round"} <= tables() and has_cohort()
    downgrade("0001")
    assert current_revision(engine) == "0001" and "event_id" not in event_columns()
    assert not chose_a_nullable() and not {"bonus", "design_round"} & tables()
    assert not has_cohort()
    engine.dispose()


def test_sqlite_pragmas(home):
    engine = get_engine()
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 5000


def _method(name="m", label="m"):
    return Method(name=name, version="1", label=label, params={}, params_hash="h", weights={})


def test_unique_method_parameter_set(db_url):
    engine = get_engine(db_url)
    with session_scope(engine, write=True) as s:
        s.add(_method())
    with pytest.raises(IntegrityError), session_scope(engine, write=True) as s:
        s.add(_method(label="other"))


def test_foreign_keys_enforced(db_url):
    engine = get_engine(db_url)
    with pytest.raises(IntegrityError), session_scope(engine, write=True) as s:
        s.add(Generation(method_id=999, content_asset_id=1, style_asset_id=1,
                         inputs_key="k", seed=0, inputs={}, provenance={}))
        s.flush()


def test_status_check_constraint(db_url, tiny_assets):
    engine = get_engine(db_url)
    content, style = tiny_assets(engine)
    with session_scope(engine, write=True) as s:
        m = _method()
        s.add(m)
        s.flush()
        mid = m.id
    with pytest.raises(IntegrityError), session_scope(engine, write=True) as s:
        s.add(Generation(method_id=mid, content_asset_id=content, style_asset_id=style,
                         inputs_key="k", seed=0, status="bogus", inputs={}, provenance={}))
        s.flush()


@pytest.mark.postgres
def test_autocommit_twin_commits_each_statement(pg_url):
    """The twin shares the database and pool settings; a statement on it is committed
    when it returns, with no COMMIT sent (what the response path relies on)."""
    from stylestudy.db.engine import autocommit_twin, make_engine

    engine = get_engine(pg_url, pool_size=3, max_overflow=3)
    twin = autocommit_twin(engine)
    assert twin is autocommit_twin(engine) and twin is not engine
    assert twin.url == engine.url and twin.pool.size() == 3
    raw = twin.raw_connection()
    try:
        assert raw.driver_connection.autocommit
        raw.driver_connection.execute("CREATE TABLE twin_probe (x int)")
        raw.driver_connection.execute("INSERT INTO twin_probe VALUES (1)")
    finally:
        raw.close()  # the pool's reset-on-return rollback cannot undo it
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM twin_probe")).scalar() == 1
        conn.execute(text("DROP TABLE twin_probe"))
        conn.commit()
    other = make_engine(pg_url)  # not made by get_engine: a twin on its URL all the same
    assert autocommit_twin(other).url == other.url
    other.dispose()
