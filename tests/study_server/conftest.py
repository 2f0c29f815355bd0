"""Fixtures: a database with a small comparison set, and a live server over loopback."""

from __future__ import annotations

import pytest
from study_helpers import make_comparison_set

from stylestudy.db.engine import get_engine
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
