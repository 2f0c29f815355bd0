"""`stylestudy prolific reconcile | pay` against a stand-in for Prolific's API on loopback.

Prolific's API cannot run here, so a small Flask app plays it: token auth, the submission
list in pages of two linked by ``_links.next.href``, and the idempotent transition.
"""

from __future__ import annotations

import re
import threading
import uuid

import pytest
from click.testing import CliRunner
from flask import Flask, jsonify, request
from sqlalchemy import func, select
from study_helpers import add_session, spec
from werkzeug.serving import make_server

from db.engine import session_scope
from db.models import DesignCell, StudySession
from study_server.client import ApiClient
from study_server.studies import create_study
from stylestudy.cli import cli

TOKEN = "prolific-test-token"


def fake_prolific(subs: dict[str, dict], transitions: list) -> Flask:
    app = Flask("fake_prolific")

    @app.before_request
    def _auth():
        if request.headers.get("Authorization") != f"Token {TOKEN}":
            return jsonify({"error": "not authenticated"}), 401
        return None

    @app.get("/api/v1/submissions/")
    def listing():
        rows = [x for x in subs.values() if x["study_id"] == request.args["study"]]
        page = int(request.args.get("page", 1))
        more = len(rows) > 2 * page
        nxt = f"{request.base_url}?study={request.args['study']}&page={page + 1}"
        return jsonify({"results": rows[2 * page - 2:2 * page],
                        "_links": {"next": {"href": nxt if more else None}},
                        "meta": {"count": len(rows)}})

    @app.post("/api/v1/submissions/<sub_id>/transition/")
    def transition(sub_id: str):
        sub = subs.get(sub_id)
        if sub is None or request.json.get("action") != "APPROVE":
            return jsonify({"error": "bad request"}), 400
        if sub["status"] == "AWAITING REVIEW":
            sub["status"] = "APPROVED"
            transitions.append(sub_id)
        return jsonify(sub)

    return app


@pytest.fixture
def prolific_api(monkeypatch):
    subs: dict[str, dict] = {}
    transitions: list[str] = []
    srv = make_server("127.0.0.1", 0, fake_prolific(subs, transitions), threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("STYLESTUDY_PROLIFIC_API_URL", f"http://127.0.0.1:{srv.server_port}")
    monkeypatch.setenv("STYLESTUDY_PROLIFIC_TOKEN", TOKEN)
    yield subs, transitions
    srv.shutdown()


def submission(sub_id: str, pid: str, status: str, study_id: str = "st") -> dict:
    return {"id": sub_id, "participant": pid, "status": status, "study_id": study_id}


@pytest.fixture
def study(engine, cset, server, db_url, monkeypatch, prolific_api):
    """pp1 awaiting review, pp2 screened out, pp3 already approved (reviews: approved,
    screened_out, approved), pp5 unreviewed and listed with another participant's ID; pp4
    started through the API, then returned on Prolific; a stranger's submission; pp1 again
    in a second Prolific study under a SESSION_ID no session has."""
    monkeypatch.setenv("STYLESTUDY_DATABASE_URL", db_url)
    subs, _ = prolific_api
    study = create_study(spec(platform="prolific", completion_codes={"completed": "C1"}),
                         engine)
    for pid, decision, status in [("pp1", "approved", "AWAITING REVIEW"),
                                  ("pp2", "screened_out", "SCREENED OUT"),
                                  ("pp3", "approved", "APPROVED"),
                                  ("pp5", None, "AWAITING REVIEW")]:
        add_session(engine, study.id, {"PROLIFIC_PID": pid, "SESSION_ID": f"se-{pid}",
                                       "STUDY_ID": "st"}, decision)
        subs[f"se-{pid}"] = submission(f"se-{pid}", pid, status)
    subs["se-pp5"]["participant"] = "pp5-impostor"  # its SESSION_ID, someone else's PID
    c = ApiClient(server)
    status, body = c.request("POST", "/api/studies/s1/sessions", {"consent": True, "params": {
        "PROLIFIC_PID": "pp4", "SESSION_ID": "se-pp4", "STUDY_ID": "st"}})
    assert status == 201, body
    c.token = body["token"]
    _, state = c.request("GET", "/api/session")
    for trial in state["trials"][:2]:  # the practice trial, then one counted trial
        c.request("POST", "/api/responses", {"response_id": str(uuid.uuid4()),
                                             "trial": trial["id"], "choice": "left"})
    assert [t["practice"] for t in state["trials"][:2]] == [True, False]
    subs["se-pp4"] = submission("se-pp4", "pp4", "RETURNED")
    subs["se-stranger"] = submission("se-stranger", "zz", "AWAITING REVIEW")
    subs["se-pp1-other"] = submission("se-pp1-other", "pp1", "AWAITING REVIEW", "st2")
    return study


def states(engine) -> list[str]:
    with session_scope(engine) as s:
        return list(s.scalars(select(StudySession.state).order_by(StudySession.id)))


def test_reconcile_marks_submitted_and_returned(study, engine):
    with session_scope(engine) as s:
        held = s.scalar(select(func.sum(DesignCell.assigned)))
    res = CliRunner().invoke(cli, ["prolific", "reconcile", "s1"])
    assert res.exit_code == 0, res.output
    assert "3 session(s) marked submitted, 1 returned" in res.output
    assert states(engine) == ["submitted"] * 3 + ["completed", "returned"]
    with session_scope(engine) as s:  # the returned session kept its one answered cell
        assert s.scalar(select(func.sum(DesignCell.assigned))) == 1 < held
    res = CliRunner().invoke(cli, ["prolific", "reconcile", "s1"])
    assert "0 session(s) marked submitted, 0 returned" in res.output
    # a Prolific study the participants did not arrive with: its submission's participant
    # is pp1, but its SESSION_ID is no session's, so nothing matches
    res = CliRunner().invoke(cli, ["prolific", "reconcile", "s1", "--prolific-study", "st2"])
    assert res.exit_code == 0 and "0 session(s) marked submitted" in res.output


def test_pay_approves_reviewed_awaiting_only_and_reruns_safely(study, prolific_api):
    subs, transitions = prolific_api
    res = CliRunner().invoke(cli, ["prolific", "pay", "s1", "--dry-run"])
    assert res.exit_code == 0, res.output
    assert re.search(r"would approve submission se-pp1 \(session \d+\)", res.output)
    # unreviewed: pp4 (returned on Prolific); unmatched: the stranger and pp5's impostor
    assert "would approve 1, already done 1, to settle on Prolific 1, unreviewed 1" \
        in res.output
    assert "settle on Prolific: submission se-pp2" in res.output
    assert "2 submission(s) match no session" in res.output
    assert transitions == []
    res = CliRunner().invoke(cli, ["prolific", "pay", "s1"])
    assert res.exit_code == 0 and "approved 1, already done 1" in res.output
    assert transitions == ["se-pp1"] and subs["se-pp1"]["status"] == "APPROVED"
    assert subs["se-pp2"]["status"] == "SCREENED OUT"  # never rejected from here
    res = CliRunner().invoke(cli, ["prolific", "pay", "s1"])
    assert "approved 0, already done 2" in res.output and transitions == ["se-pp1"]


def test_bad_token_missing_token_and_wrong_platform(study, engine, monkeypatch):
    monkeypatch.setenv("STYLESTUDY_PROLIFIC_TOKEN", "wrong")
    res = CliRunner().invoke(cli, ["prolific", "reconcile", "s1"])
    assert res.exit_code != 0 and "HTTP 401" in res.output and "Traceback" not in res.output
    assert states(engine)[:4] == ["completed"] * 4  # nothing changed
    monkeypatch.delenv("STYLESTUDY_PROLIFIC_TOKEN")
    res = CliRunner().invoke(cli, ["prolific", "pay", "s1"])
    assert res.exit_code != 0 and "STYLESTUDY_PROLIFIC_TOKEN" in res.output
    monkeypatch.setenv("STYLESTUDY_PROLIFIC_TOKEN", TOKEN)
    create_study(spec(slug="linkstudy"), engine)
    res = CliRunner().invoke(cli, ["prolific", "reconcile", "linkstudy"])
    assert res.exit_code != 0 and "not prolific" in res.output
    monkeypatch.setenv("STYLESTUDY_PROLIFIC_API_URL", "http://127.0.0.1:9")
    res = CliRunner().invoke(cli, ["prolific", "reconcile", "s1"])
    assert res.exit_code != 0 and "unreachable" in res.output
