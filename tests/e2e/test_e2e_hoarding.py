"""Hoarding across gunicorn workers on PostgreSQL: 30 simultaneous starts from one address
with made-up Prolific IDs hold at most the per-address limit of sessions, and a real
participant still gets a full session."""

from __future__ import annotations

import os
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from stylestudy.db.engine import get_engine, session_scope
from stylestudy.db.models import StudySession
from stylestudy.study_server.ops.client import ApiClient
from stylestudy.study_server.study.studies import create_study
from tests.e2e.e2e_helpers import serve
from tests.study_server.study_helpers import make_comparison_set, spec

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def test_thirty_starts_from_one_address_across_workers(pg_url):
    engine = get_engine(pg_url)
    make_comparison_set(engine)
    # 72 judgments: 12 sessions of 6 real trials; 30 hoarded sessions would take them all
    create_study(spec(platform="prolific", completion_codes={"completed": "C1"}), engine)
    env = {"STYLESTUDY_DATABASE_URL": pg_url, "STYLESTUDY_PROXIES": "1",
           "STYLESTUDY_SECRET": os.environ["STYLESTUDY_SECRET"]}

    def begin(url: str, addr: str) -> tuple[int, dict]:
        c = ApiClient(url)  # a connection each: either worker may answer
        try:
            return c.request("POST", "/api/studies/s1/sessions", {
                "consent": True, "params": {"PROLIFIC_PID": uuid.uuid4().hex,
                                            "SESSION_ID": uuid.uuid4().hex}},
                headers={"X-Forwarded-For": addr}, retries=0)
        finally:
            c.close()

    with serve(workers=2, threads=4, env=env) as (url, _):
        with ThreadPoolExecutor(10) as pool:
            answers = list(pool.map(lambda _: begin(url, "203.0.113.66"), range(30)))
        status, real = begin(url, "198.51.100.7")
        assert status == 201, real
        c = ApiClient(url)
        c.token = real["token"]
        trials = c.request("GET", "/api/session")[1]["trials"]
    codes = sorted(s for s, _ in answers)
    assert codes == [201] * 4 + [429] * 26, codes
    assert {b["error"] for s, b in answers if s == 429} == {"too_many_sessions"}
    assert sum(not t["practice"] for t in trials) >= 6
    with session_scope(engine) as s:
        assert s.scalar(select(func.count()).select_from(StudySession)) == 5
