"""Fixtures: a database with a small comparison set, the app from its factory with a test
client, and a live server over loopback."""

from __future__ import annotations

from typing import Any

import pytest
from study_helpers import make_comparison_set

from stylestudy.db.engine import get_engine
from stylestudy.study_server.app import create_app
from stylestudy.study_server.ops.simulate import local_server


@pytest.fixture
def engine(db_url):
    return get_engine(db_url)


@pytest.fixture
def cset(engine):
    return make_comparison_set(engine)


@pytest.fixture
def server(db_url, cset):
    """Base URL of the real app on an ephemeral loopback port (werkzeug, threaded)."""
    with local_server({"DATABASE_URL": db_url}) as url:
        yield url


@pytest.fixture
def app_config(db_url) -> dict[str, Any]:
    """The test app's settings: the test database (SQLite in the test's folder, or a fresh
    PostgreSQL one), no request log, no rate limits, session cookies over plain http. A
    test module overrides this fixture to change one."""
    return {"DATABASE_URL": db_url, "REQUEST_LOG": False, "RATELIMIT_ENABLED": False,
            "SESSION_COOKIE_SECURE": False}


@pytest.fixture
def app(app_config, cset):
    """The real app, built by the app factory, over the database with ``cset``."""
    return create_app(app_config)


@pytest.fixture
def client(app):
    """Flask's test client of ``app`` (in process, no server)."""
    return app.test_client()
