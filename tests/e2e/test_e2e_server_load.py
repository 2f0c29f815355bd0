"""gunicorn with several workers on PostgreSQL: concurrent participants, kill -9, restart."""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from stylestudy.db.engine import get_engine, session_scope
from stylestudy.db.models import DesignCell, Participant, Response, StudySession, Trial
from stylestudy.study_server.ops.client import ApiClient
from stylestudy.study_server.study.studies import create_study
from tests.e2e.e2e_helpers import free_port, serve
from tests.study_server.study_helpers import make_comparison_set, spec

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def server_env(pg_url: str) -> dict:
    return {"STYLESTUDY_DATABASE_URL": pg_url, "STYLESTUDY_START_LIMIT": "100000/minute",
            "STYLESTUDY_RESPONSE_LIMIT": "100000/minute", "STYLESTUDY_OPEN_PER_ADDRESS": "0",
            "STYLESTUDY_SECRET": os.environ["STYLESTUDY_SECRET"]}


def participant(url: str, acked: list, lock: threading.Lock, replay: bool,
                deadline: float) -> str:
    """Start, answer every trial (optionally twice), complete; retry through outages."""
    c = ApiClient(url, timeout=10)

    def call(method, path, body=None):
        while True:
            try:
                return c.request(method, path, body, retries=0)
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    status, body = call("POST", "/api/studies/s1/sessions", {"consent": True})
    if status != 201:
        return body["error"]
    c.token = body["token"]
    _, state = call("GET", "/api/session")
    for t in state["trials"]:
        rid = str(uuid.uuid4())
        for _ in range(2 if replay else 1):
            status, out = call("POST", "/api/responses", {"response_id": rid, "trial": t["id"],
                                                          "choice": "left", "rt_ms": 700})
            assert status in (200, 201), out
            with lock:
                acked.append(rid)
    status, out = call("POST", "/api/session/complete", {})
    assert status == 200, out
    return "completed"


@pytest.fixture
def pg_study(pg_url):
    engine = get_engine(pg_url)
    make_comparison_set(engine)
    return engine


def test_concurrent_participants_no_overfill(pg_study, pg_url):
    # target 2 on 36 real cells (72 judgments) = 12 sessions of 6; 40 arrive at once.
    create_study(spec(judgments_per_cell=2), pg_study)
    acked, lock = [], threading.Lock()
    with serve(workers=3, threads=4, env=server_env(pg_url)) as (url, _):
        deadline = time.monotonic() + 120
        with ThreadPoolExecutor(40) as pool:
            results = list(pool.map(lambda i: participant(url, acked, lock, i % 2 == 0,
                                                          deadline), range(40)))
    # every arrival either completes or is told the study is full; near the end a
    # session may get fewer than 6 real trials, so at least 12 complete
    assert results.count("completed") + results.count("study_full") == 40
    assert results.count("completed") >= 12
    with session_scope(pg_study) as s:
        cells = s.scalars(select(DesignCell).where(DesignCell.kind == "real")).all()
        assert max(c.assigned for c in cells) <= 2 and sum(c.assigned for c in cells) == 72
        served = dict(s.execute(select(Trial.cell_id, func.count()).join(
            Response, Response.trial_id == Trial.id).where(Trial.kind == "real")
            .group_by(Trial.cell_id)).all())
        assert max(served.values()) <= 2  # no over-filled cell
        ids = s.scalars(select(Response.response_id)).all()
    assert len(ids) == len(set(ids)) == len(set(acked))  # none lost, none duplicated
    assert set(ids) == set(acked)


def test_concurrent_starts_respect_participant_caps(pg_study, pg_url):
    """30 starts at once (cells for many more), half through the link of cohort "a"
    capped at 3, half through that of "b" capped at 4, then 30 more against
    max_participants 9: exactly 3 sessions of "a" and 4 of "b", then 2 more of the
    uncapped "c"; the rest told their group or the study is full; no participant row
    left behind."""
    create_study(spec(judgments_per_cell=20, max_participants=9,
                      cohorts={"param": "g", "caps": {"a": 3, "b": 4, "c": None}}), pg_study)

    def one(group):
        status, body = ApiClient(url, timeout=30).request(
            "POST", "/api/studies/s1/sessions", {"consent": True, "params": {"g": group}},
            retries=0)
        return (group, status if status == 201 else body["error"])

    with serve(workers=3, threads=4, env=server_env(pg_url)) as (url, _), \
            ThreadPoolExecutor(30) as pool:
        first = Counter(pool.map(one, "ab" * 15))
        then = Counter(pool.map(one, "c" * 30))
    assert first == {("a", 201): 3, ("a", "cohort_full"): 12, ("b", 201): 4,
                     ("b", "cohort_full"): 11}
    assert then == {("c", 201): 2, ("c", "study_full"): 28}
    with session_scope(pg_study) as s:
        assert dict(s.execute(select(StudySession.cohort, func.count())
                              .group_by(StudySession.cohort)).all()) == {"a": 3, "b": 4, "c": 2}
        assert s.scalar(select(func.count()).select_from(Participant)) == 9


def test_kill_9_under_load_then_restart(pg_study, pg_url):
    create_study(spec(judgments_per_cell=20), pg_study)
    acked, lock = [], threading.Lock()
    port = free_port()
    env = server_env(pg_url)
    deadline = time.monotonic() + 180
    with ThreadPoolExecutor(16) as pool:
        with serve(workers=2, env=env, port=port) as (url, proc):
            futures = [pool.submit(participant, url, acked, lock, False, deadline)
                       for _ in range(16)]
            while len(acked) < 20 and time.monotonic() < deadline:
                time.sleep(0.01)
            os.killpg(proc.pid, signal.SIGKILL)  # master and workers, mid-request
            proc.wait()
            n_at_kill = len(acked)
        with serve(workers=2, env=env, port=port):
            results = [f.result() for f in futures]
    assert results == ["completed"] * 16
    assert n_at_kill >= 20
    with session_scope(pg_study) as s:
        ids = set(s.scalars(select(Response.response_id)).all())
        n_trials = s.scalar(select(func.count()).select_from(Trial).join(
            StudySession, StudySession.id == Trial.session_id).where(
            StudySession.state == "completed"))
    assert set(acked) <= ids  # every acknowledged response survived
    assert ids == set(acked) and len(ids) == n_trials  # and nothing else was stored
