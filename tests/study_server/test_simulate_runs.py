"""`simulate` across runs: fresh identifiers, no session left open, and judgments that do
not depend on how the participants' requests interleave."""

from __future__ import annotations

import json
import threading
from collections import Counter

from sqlalchemy import func, select
from sqlalchemy.orm import aliased
from study_helpers import make_comparison_set, spec
from werkzeug.serving import make_server

from stylestudy.db.engine import get_engine, session_scope
from stylestudy.db.models import Asset, DesignCell, Method, Response, StudySession, Trial
from stylestudy.study_server.app import create_app
from stylestudy.study_server.ops.simulate import simulate
from stylestudy.study_server.study.studies import create_study

STRENGTHS = {"m1": 1.0, "m2": 0.5}


def open_sessions(engine) -> int:
    with session_scope(engine) as s:
        return s.scalar(select(func.count()).select_from(StudySession)
                        .where(StudySession.state == "started"))


def test_two_runs_with_the_default_seed(engine, cset, db_url):
    """The second run of the same command reuses no response id and leaves nothing open."""
    create_study(spec(judgments_per_cell=6), engine)
    for _ in range(2):
        res = simulate("s1", 3, strengths=STRENGTHS, database_url=db_url)
        assert (res.completed, dict(res.refused)) == (3, {}), res
    assert open_sessions(engine) == 0
    with session_scope(engine) as s:
        assert s.scalar(select(func.count()).select_from(Response)) == 6 * 9


class RefuseThirdResponse:
    """Around the real app: each session's third response POST is answered 409 as a taken
    id (what a second run with the same seed met), without reaching the app."""

    def __init__(self, app) -> None:
        self.app, self.seen, self.lock = app, Counter(), threading.Lock()

    def __call__(self, environ, start_response):
        if environ["PATH_INFO"] == "/api/responses":
            with self.lock:
                self.seen[environ.get("HTTP_AUTHORIZATION")] += 1
                refuse = self.seen[environ.get("HTTP_AUTHORIZATION")] == 3
            if refuse:
                environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
                body = json.dumps({"error": "response_id_taken", "message": "taken"}).encode()
                start_response("409 CONFLICT", [("Content-Type", "application/json"),
                                                ("Content-Length", str(len(body)))])
                return [body]
        return self.app(environ, start_response)


def test_refused_participants_return_their_sessions(engine, cset, db_url):
    create_study(spec(judgments_per_cell=6), engine)
    app = create_app({"DATABASE_URL": db_url, "RATELIMIT_ENABLED": False,
                      "REQUEST_LOG": False})
    server = make_server("127.0.0.1", 0, RefuseThirdResponse(app), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        res = simulate("s1", 4, strengths=STRENGTHS, database_url=db_url,
                       url=f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        server.server_close()
    assert res.refused["response_id_taken"] == 4 and res.outcomes["returned"] == 4
    with session_scope(engine) as s:
        assert s.scalars(select(StudySession.state)).all() == ["returned"] * 4
    with session_scope(engine) as s:  # what was stored stays; the rest went back
        assert s.scalar(select(func.count()).select_from(Response)) == res.responses
        assert s.scalar(select(func.sum(DesignCell.assigned))
                        .where(DesignCell.kind == "real")) == s.scalar(
            select(func.count()).select_from(Response).join(Trial)
            .where(Trial.kind == "real"))


def judged(engine) -> Counter:
    """Multiset of real judgments: (question, content, style, A, B, chosen), images by
    their SHA-256 (the same in both databases) and methods by label."""
    content, style = aliased(Asset), aliased(Asset)
    ma, mb, chosen = aliased(Method), aliased(Method), aliased(Method)
    with session_scope(engine) as s:
        rows = s.execute(
            select(DesignCell.question, content.sha256, style.sha256, ma.label, mb.label,
                   chosen.label)
            .select_from(Response).join(Trial, Trial.id == Response.trial_id)
            .join(DesignCell, DesignCell.id == Trial.cell_id)
            .join(content, content.id == DesignCell.content_asset_id)
            .join(style, style.id == DesignCell.style_asset_id)
            .join(ma, ma.id == DesignCell.method_a_id).join(mb, mb.id == DesignCell.method_b_id)
            .outerjoin(chosen, chosen.id == Response.chosen_method_id)
            .where(Trial.kind == "real")).all()
        unfilled = s.scalar(select(func.count()).select_from(DesignCell).where(
            DesignCell.kind == "real", DesignCell.served < DesignCell.target))
    assert unfilled == 0  # every cell got its judgments: the multisets can be compared
    return Counter(rows)


def test_same_judgments_however_requests_interleave(home):
    """The same seed on two copies of a study, once one participant at a time and once
    eight at a time, gives the same judgments of every cell (noise 1, so each one is a
    draw)."""
    runs = []
    for name, concurrency in (("one", 1), ("eight", 8)):
        url = f"sqlite:///{home}/{name}.sqlite3"
        engine = get_engine(url)
        make_comparison_set(engine)
        create_study(spec(judgments_per_cell=3), engine)
        res = simulate("s1", 60, strengths=STRENGTHS, noise=1.0, seed=7,
                       concurrency=concurrency, database_url=url)
        assert res.refused.get("study_full", 0) > 0  # the design is full
        runs.append(judged(engine))
    assert sum(runs[0].values()) == 2 * 6 * 3 * 3  # questions × items × pairs × judgments
    assert runs[0] == runs[1]
