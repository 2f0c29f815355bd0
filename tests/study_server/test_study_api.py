"""The participant API over real HTTP (werkzeug on loopback), on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import uuid

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, func, select, update
from study_helpers import add_session, answer, refused_downgrade, spec, start

from stylestudy.cli import cli
from stylestudy.db.engine import session_scope
from stylestudy.db.models import (
    DesignCell,
    Participant,
    Response,
    Review,
    SessionEvent,
    StudySession,
    Trial,
)
from stylestudy.study_server.ops.client import ApiClient
from stylestudy.study_server.study import participation
from stylestudy.study_server.study.studies import create_study, set_study_state


@pytest.fixture
def study(engine, cset):
    return create_study(spec(), engine)


def test_session_composition(server, study, engine, cset):
    c = start(server)
    status, state = c.request("GET", "/api/session")
    assert status == 200 and state["state"] == "started"
    # spec(): 1 practice, 6 real, max(1, round(0.1·6)) = 1 catch, round(0.2·6) = 1 repeat
    assert state["total"] == 9 and state["answered"] == 0
    assert [t["practice"] for t in state["trials"]] == [True] + [False] * 8
    with session_scope(engine) as s:
        trials = s.scalars(select(Trial).order_by(Trial.position)).all()
        kinds = sorted(t.kind for t in trials)
        assert kinds == ["catch", "practice", "real", "real", "real", "real", "real", "real",
                         "repeat"]
        items = [(t.cell.question, t.cell.content_asset_id, t.cell.style_asset_id)
                 for t in trials if t.kind in ("real", "catch")]
        assert len(set(items)) == len(items)  # no item twice
        rep = next(t for t in trials if t.kind == "repeat")
        orig = s.get(Trial, rep.repeat_of_id)
        assert orig.cell_id == rep.cell_id and orig.left_is_a != rep.left_is_a
        assert orig.position < rep.position
    # nothing a participant sees names a method (a label inside a random token is
    # surrounded by token characters, so only a delimited occurrence would be a leak)
    text = json.dumps(state)
    assert not any(re.search(rf"(?<![\w-]){label}(?![\w-])", text) for label in cset["methods"])
    assert "method" not in text


def test_idempotent_response_and_completion(server, study, engine):
    c = start(server)
    _, state = c.request("GET", "/api/session")
    t0 = state["trials"][0]
    body = {"response_id": str(uuid.uuid4()), "trial": t0["id"], "choice": "right",
            "rt_ms": 1234.5}
    s1, first = c.request("POST", "/api/responses", body)
    s2, again = c.request("POST", "/api/responses", body)
    assert (s1, s2) == (201, 200)
    assert first == again and "correct" in first  # trial 0 is the practice trial
    with session_scope(engine) as s:
        assert s.scalar(select(func.count()).select_from(Response)) == 1
    # same trial, a new response_id: refused, nothing overwritten
    status, err = answer(c, t0, "left")
    assert status == 409 and err["error"] == "trial_answered"
    status, err = c.request("POST", "/api/session/complete", {})
    assert status == 409 and err["missing"] == 8
    for t in state["trials"][1:]:
        assert answer(c, t)[0] == 201
    status, done = c.request("POST", "/api/session/complete", {"feedback": "fine"})
    assert status == 200 and done["completion"]["kind"] == "code"
    code = done["completion"]["code"]
    status, again = c.request("POST", "/api/session/complete", {})
    assert status == 200 and again["completion"]["code"] == code  # reload → same action
    _, state = c.request("GET", "/api/session")
    assert state["state"] == "completed" and state["completion"]["code"] == code
    with session_scope(engine) as s:
        sess = s.scalar(select(StudySession))
        assert (sess.state, sess.outcome, sess.feedback) == ("completed", "completed", "fine")


def test_client_events_are_stored_once(server, study, engine):
    """A retried event (same ``event_id``) is stored once; two sessions may reuse an id;
    events without an id (older clients) are each stored."""
    a, b = start(server), start(server)
    event = {"event_id": str(uuid.uuid4()), "kind": "blur", "payload": {},
             "client_time": "2026-11-23T22:00:00.000Z"}
    assert [a.request("POST", "/api/events", event) for _ in range(3)] == [
        (201, {"stored": True}), (200, {"stored": False}), (200, {"stored": False})]
    assert b.request("POST", "/api/events", event)[0] == 201
    assert a.request("POST", "/api/events", {"kind": "focus"})[0] == 201
    assert a.request("POST", "/api/events", {"kind": "focus"})[0] == 201
    for bad, code in [({**event, "event_id": "x"}, "bad_event_id"),
                      ({**event, "client_time": 5}, "bad_client_time"),
                      ({**event, "kind": "nap"}, "bad_event")]:
        status, err = a.request("POST", "/api/events", bad)
        assert (status, err["error"]) == (422, code)
    for nul in [{**event, "client_time": "\u0000"}, {**event, "payload": {"k": ["\u0000"]}},
                {**event, "payload": {"\u0000": 1}}]:
        status, err = a.request("POST", "/api/events", nul)
        assert (status, err["error"]) == (400, "bad_json")
    event_text = {**event, "event_id": str(uuid.uuid4()), "payload": {"note": "\\u0000"}}
    assert a.request("POST", "/api/events", event_text)[0] == 201  # a backslash, not a NUL
    with session_scope(engine) as s:
        rows = s.execute(select(SessionEvent.session_id, SessionEvent.kind,
                                SessionEvent.client_time).order_by(SessionEvent.id)).all()
    sa, sb = rows[0].session_id, rows[1].session_id
    assert sa != sb
    assert [tuple(r) for r in rows] == [(sa, "blur", event["client_time"]),
                                        (sb, "blur", event["client_time"]),
                                        (sa, "focus", None), (sa, "focus", None),
                                        (sa, "blur", event["client_time"])]


def test_other_participants_trial_is_refused(server, study):
    a, b = start(server), start(server)
    _, sa = a.request("GET", "/api/session")
    status, err = answer(b, sa["trials"][1])
    assert status == 404 and err["error"] == "no_trial"
    # a response_id already used by another session
    body = {"response_id": str(uuid.uuid4()), "trial": sa["trials"][1]["id"], "choice": "left"}
    assert a.request("POST", "/api/responses", body)[0] == 201
    _, sb = b.request("GET", "/api/session")
    status, err = b.request("POST", "/api/responses", {**body, "trial": sb["trials"][1]["id"]})
    assert status == 409 and err["error"] == "response_id_taken"


@pytest.mark.parametrize("body, status, code", [
    ({"trial": "0" * 32, "choice": "left"}, 422, "bad_response_id"),
    ({"response_id": "not-a-uuid", "trial": "0" * 32, "choice": "left"}, 422,
     "bad_response_id"),
    ({"response_id": str(uuid.uuid4()), "trial": "0" * 32, "choice": "up"}, 422, "bad_choice"),
    ({"response_id": str(uuid.uuid4()), "trial": "0" * 32, "choice": "left", "rt_ms": -1},
     422, "bad_rt"),
    ([1, 2], 400, "bad_json"),
    ({"response_id": str(uuid.uuid4()), "trial": "0" * 32, "choice": "left",
      "client_time": "12:00\u0000"}, 400, "bad_json"),  # no database stores NUL in text
])
def test_bad_response_bodies(server, study, body, status, code):
    c = start(server)
    got, err = c.request("POST", "/api/responses", body)
    assert (got, err["error"]) == (status, code)


def test_auth_and_origin(server, study):
    c = ApiClient(server)
    assert c.request("GET", "/api/session")[0] == 401
    c.token = "x" * 43
    assert c.request("GET", "/api/session")[1]["error"] == "bad_token"
    c = start(server)
    status, err = c.request("POST", "/api/responses", {}, headers={"Origin": "https://evil.example"})
    assert status == 403 and err["error"] == "bad_origin"
    status, _ = c.request("POST", "/api/studies/s1/sessions", {"consent": False})
    assert status == 422
    status, err = c.request("POST", "/api/studies/s1/sessions",
                            {"consent": True, "params": {"PROLIFIC_PID": "p\u0000"}})
    assert (status, err["error"]) == (400, "bad_json")
    status, _ = ApiClient(server).request("POST", "/api/studies/nope/sessions", {"consent": True})
    assert status == 404


def test_paused_study_refuses_starts(server, study, engine):
    set_study_state("s1", "paused", engine)
    c = ApiClient(server)
    status, err = c.request("POST", "/api/studies/s1/sessions", {"consent": True})
    assert status == 409 and err["error"] == "study_paused"


def test_allocation_fills_without_overfill(server, engine, cset):
    # judgments_per_cell 1, one question: 18 real cells × 1 = 18 = 3 sessions of 6.
    create_study(spec(questions=["content"], judgments_per_cell=1), engine)
    clients = [start(server) for _ in range(3)]
    status, err = ApiClient(server).request("POST", "/api/studies/s1/sessions",
                                            {"consent": True})
    assert status == 409 and err["error"] == "study_full"
    with session_scope(engine) as s:
        cells = s.scalars(select(DesignCell).where(DesignCell.kind == "real")).all()
        assert [c.assigned for c in cells] == [1] * 18
    assert len(clients) == 3


def test_participant_cap(server, engine, cset, db_url, monkeypatch):
    """max_participants 2: a third start is refused and leaves no row; a withdrawal frees
    its place; ``stylestudy study cap`` raises the cap of the running study."""
    study = create_study(spec(max_participants=2), engine)
    first, _ = start(server), start(server)

    def refused() -> bool:
        status, err = ApiClient(server).request("POST", "/api/studies/s1/sessions",
                                                {"consent": True})
        return status == 409 and err["error"] == "study_full" and "participants" in \
            err["message"]

    assert refused()
    with session_scope(engine) as s:
        assert s.scalar(select(func.count()).select_from(Participant)) == 2
        assert participation.counted_participants(s, study.id) == 2
    assert first.request("POST", "/api/session/return")[0] == 200
    start(server)  # the returned session's place
    assert refused()
    monkeypatch.setenv("STYLESTUDY_DATABASE_URL", db_url)
    res = CliRunner().invoke(cli, ["study", "cap", "s1", "3"])
    assert res.exit_code == 0 and "at most 3" in res.output
    start(server)
    assert refused()
    res = CliRunner().invoke(cli, ["study", "cap", "s1", "lots"])
    assert res.exit_code != 0 and "number or 'none'" in res.output
    assert CliRunner().invoke(cli, ["study", "cap", "s1", "none"]).exit_code == 0
    start(server)
    with session_scope(engine) as s:
        states = sorted(s.scalars(select(StudySession.state)).all())
    assert states == ["returned"] + ["started"] * 4


def test_cohort_caps(server, engine, cset, db_url, monkeypatch):
    """Caps by criteria: each link carries its cohort; a cohort's cap refuses its next
    start with ``cohort_full`` while the other cohort and the uncapped one still start; a
    link without a known cohort is refused and stores nothing; the cohort travels with
    the session into the exports, and ``stylestudy study cap --cohort`` changes one cap."""
    study = create_study(spec(max_participants=5, cohorts={
        "param": "group", "caps": {"experts": 1, "novices": 2, "pilot": None}}), engine)

    def status(params: dict) -> tuple[int, dict]:
        return ApiClient(server).request("POST", "/api/studies/s1/sessions",
                                         {"consent": True, "params": params})

    expert = start(server, params={"group": "experts"})
    code, err = status({"group": "experts"})
    assert (code, err["error"]) == (409, "cohort_full") and "your group" in err["message"]
    for bad in ({}, {"group": "unknown"}, {"group": ""}):
        code, err = status(bad)
        assert (code, err["error"]) == (422, "bad_entry") and "group" in err["message"]
    start(server, params={"group": "novices"})
    start(server, params={"group": "novices"})
    assert status({"group": "novices"})[1]["error"] == "cohort_full"
    start(server, params={"group": "pilot"})
    start(server, params={"group": "pilot"})
    assert status({"group": "pilot"})[1]["error"] == "study_full"  # the overall cap of 5
    with session_scope(engine) as s:
        cohorts = sorted(s.scalars(select(StudySession.cohort)).all())
        assert cohorts == ["experts", "novices", "novices", "pilot", "pilot"]
        assert s.scalar(select(func.count()).select_from(Participant)) == 5
        sid = s.scalar(select(StudySession.id).where(StudySession.cohort == "experts"))
        assert participation.counted_participants(s, study.id, cohort="novices") == 2
    _, state = expert.request("GET", "/api/session")
    assert answer(expert, state["trials"][0])[0] == 201
    monkeypatch.setenv("STYLESTUDY_DATABASE_URL", db_url)
    out = CliRunner().invoke(cli, ["study", "export", "s1", "--format", "long"])
    rows = list(csv.DictReader(io.StringIO(out.output)))
    assert [(r["session_id"], r["cohort"]) for r in rows] == [(str(sid), "experts")]
    out = CliRunner().invoke(cli, ["study", "export", "s1", "--format", "json"])
    assert json.loads(out.output)[0]["cohort"] == "experts"
    assert expert.request("POST", "/api/session/return")[0] == 200  # frees its place
    res = CliRunner().invoke(cli, ["study", "cap", "s1", "3", "--cohort", "novices"])
    assert res.exit_code == 0 and "cohort novices: at most 3" in res.output
    res = CliRunner().invoke(cli, ["study", "cap", "s1", "3", "--cohort", "nobody"])
    assert res.exit_code != 0 and "no cohort 'nobody'" in res.output
    start(server, params={"group": "novices"})
    assert status({"group": "experts"})[1]["error"] == "study_full"


def test_downgrade_keeps_cohorts(server, engine, cset):
    """Participant data is never dropped: with a session in a cohort the downgrade past
    revision 0006 stops, and the cohort stays."""
    create_study(spec(cohorts={"param": "g", "caps": {"x": None}}), engine)
    start(server, params={"g": "x"})
    refused_downgrade(engine, "0005", "1 session\\(s\\) carry a cohort")
    with session_scope(engine) as s:
        assert s.scalars(select(StudySession.cohort)).all() == ["x"]


def test_rejections_are_kept_by_the_schema(engine, cset):
    """Revision 0007 admits the decision 'rejected'; its downgrade refuses while one is
    stored, and without one it restores the old rule, which refuses 'rejected'."""
    from alembic import command
    from sqlalchemy.exc import IntegrityError

    from stylestudy.db.migrate import alembic_config

    study = create_study(spec(), engine)
    sid = add_session(engine, study.id, {"participant": "x"}, "rejected", platform="link")
    refused_downgrade(engine, "0006", "1 review\\(s\\) are rejections")
    with session_scope(engine, write=True) as s:
        s.execute(delete(Review))
    with engine.begin() as conn:
        cfg = alembic_config(engine)
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0006")
    with pytest.raises(IntegrityError), session_scope(engine, write=True) as s:
        s.add(Review(session_id=sid, decision="rejected", admin="ada"))


def test_not_sure_only_where_allowed(server, engine, cset, db_url, monkeypatch):
    """Strict 2AFC refuses "not_sure"; with allow_not_sure it is stored with no choice and
    no chosen method, is a wrong practice answer, counts toward the cell, and the exports
    carry it (long and JSON) or leave it out (pwcmp)."""
    create_study(spec(), engine)
    create_study(spec(slug="s2", allow_not_sure=True, screen_out_after_practice_errors=2),
                 engine)
    strict = start(server)
    _, state = strict.request("GET", "/api/session")
    assert state["allow_not_sure"] is False
    status, err = answer(strict, state["trials"][0], "not_sure")
    assert (status, err["error"]) == (422, "bad_choice")
    c = start(server, "s2")
    _, state = c.request("GET", "/api/session")
    assert state["allow_not_sure"] is True
    practice, real = state["trials"][0], state["trials"][1]
    assert practice["practice"] and not real["practice"]
    status, out = answer(c, practice, "not_sure")
    assert status == 201 and out["correct"] is False
    rid = str(uuid.uuid4())
    body = {"response_id": rid, "trial": real["id"], "choice": "not_sure", "rt_ms": 900}
    assert c.request("POST", "/api/responses", body)[0] == 201
    assert c.request("POST", "/api/responses", body)[0] == 200  # a replay
    with session_scope(engine) as s:
        resp = s.scalar(select(Response).where(Response.response_id == rid))
        assert resp.chose_a is None and resp.chosen_method_id is None
        cell = s.get(DesignCell, s.get(Trial, resp.trial_id).cell_id)
        assert cell.served == 1
        sess_state = s.scalar(select(StudySession.state).where(StudySession.id
                                                               == resp.session_id))
    assert sess_state == "started"  # one practice error of the two that screen out
    monkeypatch.setenv("STYLESTUDY_DATABASE_URL", db_url)
    res = CliRunner().invoke(cli, ["study", "export", "s2"])
    rows = {r["trial_id"]: r for r in csv.DictReader(io.StringIO(res.output))}
    assert (rows[real["id"]]["not_sure"], rows[real["id"]]["chose_A"],
            rows[real["id"]]["chosen_method"]) == ("1", "", "")
    res = CliRunner().invoke(cli, ["study", "export", "s2", "--format", "json"])
    rec = next(r for r in json.loads(res.output) if r["trial_id"] == real["id"])
    assert rec["response"] is None and rec["chose_A"] is None and rec["not_sure"] is True
    res = CliRunner().invoke(cli, ["study", "export", "s2", "--format", "pwcmp",
                                   "--question", real["question"]])
    assert res.exit_code == 0 and res.output.splitlines()[1:] == []


@pytest.mark.parametrize("minimum", [None, 5])
def test_min_trials_per_session(server, engine, cset, minimum):
    """18 real cells × 1 judgment, 5 per session: the fourth start gets the last 3 cells,
    unless min_trials_per_session asks for 5 (then the study is full and 3 cells stay
    unassigned)."""
    create_study(spec(questions=["content"], judgments_per_cell=1, trials_per_session=5,
                      repeat_rate=0, min_trials_per_session=minimum), engine)
    for _ in range(3):
        start(server)
    status, body = ApiClient(server).request("POST", "/api/studies/s1/sessions",
                                             {"consent": True})
    with session_scope(engine) as s:
        real = s.scalars(select(func.count()).select_from(Trial).where(Trial.kind == "real")
                         .group_by(Trial.session_id)).all()
        assigned = s.scalar(select(func.sum(DesignCell.assigned))
                            .where(DesignCell.kind == "real"))
        n_participants = s.scalar(select(func.count()).select_from(Participant))
    if minimum is None:
        assert status == 201 and sorted(real) == [3, 5, 5, 5] and assigned == 18
    else:
        assert (status, body["error"]) == (409, "study_full")
        assert real == [5, 5, 5] and assigned == 15 and n_participants == 3  # nothing kept


def test_least_served_first_and_side_balance(server, engine, cset):
    # 36 real cells over 12 items, 6 per session with distinct items: least-served-first
    # keeps every cell within one judgment of every other; with target 2 a cell given out
    # twice shows A on the left exactly once.
    create_study(spec(judgments_per_cell=2, repeat_rate=0), engine)
    for _ in range(12):
        start(server)
        with session_scope(engine) as s:
            got = s.scalars(select(DesignCell.assigned).where(DesignCell.kind == "real")).all()
        assert max(got) - min(got) <= 1 and max(got) <= 2
    with session_scope(engine) as s:
        cells = s.scalars(select(DesignCell).where(DesignCell.kind == "real")).all()
        n_real = s.scalar(select(func.count()).select_from(Trial).where(Trial.kind == "real"))
        assert sum(c.assigned for c in cells) == n_real
        assert all(c.left_a == 1 for c in cells if c.assigned == 2)
        assert all(c.left_a in (0, 1) for c in cells)


def test_lease_expiry_releases_trials(server, study, engine, monkeypatch):
    c = start(server)
    _, state = c.request("GET", "/api/session")
    answer(c, state["trials"][0])
    answer(c, state["trials"][1])
    with session_scope(engine, write=True) as s:
        s.execute(update(StudySession).values(
            lease_expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)))
    monkeypatch.setattr(participation, "_last_sweep", {})
    start(server)  # a new start sweeps expired sessions first
    with session_scope(engine) as s:
        first = s.scalar(select(StudySession).order_by(StudySession.id))
        assert first.state == "timed_out"
        t1 = s.scalar(select(Trial).where(Trial.session_id == first.id, Trial.position == 1))
        cells = s.scalars(select(DesignCell)).all()
        # the answered trial keeps its lease on its cell; the others were released
        kept = {t.cell_id for t in s.scalars(select(Trial).where(
            Trial.session_id == first.id, Trial.kind.in_(("real", "catch"))))}
        assert t1.cell_id in kept
        second = s.scalar(select(StudySession).order_by(StudySession.id.desc()))
        n_second = s.scalar(select(func.count()).select_from(Trial).where(
            Trial.session_id == second.id, Trial.kind.in_(("real", "catch"))))
        answered_first = 1 if t1.kind in ("real", "catch") else 0
        assert sum(c.assigned for c in cells) == n_second + answered_first
    status, err = answer(c, state["trials"][2])
    assert status == 409 and err["error"] == "session_timed_out"
    assert err["completion"]["outcome"] == "technical_error"


def test_mturk_preview_writes_nothing(engine, cset, server):
    create_study(spec(platform="mturk"), engine)
    c = ApiClient(server)
    status, err = c.request("POST", "/api/studies/s1/sessions",
                            {"consent": True, "params": {"assignmentId":
                                                         "ASSIGNMENT_ID_NOT_AVAILABLE"}})
    assert status == 409 and err["error"] == "preview"
    with session_scope(engine) as s:
        assert s.scalar(select(func.count()).select_from(Participant)) == 0
        assert s.scalar(select(func.count()).select_from(StudySession)) == 0


def test_repeat_participation_blocked(engine, cset, server):
    create_study(spec(platform="prolific", completion_codes={"completed": "C0DE1"}), engine)
    params = {"PROLIFIC_PID": "p1", "STUDY_ID": "st", "SESSION_ID": "x1"}
    start(server, params=params)
    status, err = ApiClient(server).request("POST", "/api/studies/s1/sessions",
                                            {"consent": True, "params": {**params,
                                                                         "SESSION_ID": "x2"}})
    assert status == 409 and err["error"] == "already_participated"
    with session_scope(engine) as s:
        p = s.scalar(select(Participant))
        assert "p1" not in p.pid_hash and len(p.pid_hash) == 64


def test_mobile_excluded_server_side(server, study):
    c = ApiClient(server)
    ua = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148"
    status, err = c.request("POST", "/api/studies/s1/sessions", {"consent": True},
                            headers={"User-Agent": ua})
    assert status == 403 and err["error"] == "device_excluded"


@pytest.mark.parametrize("limit", [None, 0, 1])
def test_reload_limit_ends_the_session_as_screened_out(server, engine, cset, limit):
    """max_reloads null: reloads are only logged; 0: the first reload ends the session;
    1: the second does. Stored responses stay; the screened-out code is the action."""
    create_study(spec(max_reloads=limit, completion_codes={"screened_out": "SO1"}), engine)
    c = start(server)
    _, state = c.request("GET", "/api/session")
    assert answer(c, state["trials"][0])[0] == 201
    states = [c.request("POST", "/api/session/reload", {})[1]["state"] for _ in range(3)]
    ended_at = {None: None, 0: 0, 1: 1}[limit]
    want = ["started"] * 3 if ended_at is None else \
        ["started"] * ended_at + ["completed"] * (3 - ended_at)
    assert states == want
    _, now = c.request("GET", "/api/session")
    with session_scope(engine) as s:
        sess = s.scalar(select(StudySession))
        assert s.scalar(select(func.count()).select_from(Response)) == 1  # nothing dropped
    if limit is None:
        assert sess.state == "started" and "completion" not in now
    else:
        assert (sess.state, sess.outcome) == ("completed", "screened_out")
        assert now["completion"]["code"] == "SO1"
        status, err = answer(c, state["trials"][1])
        assert status == 409 and err["error"] == "session_completed"


def _drop_connections(engine) -> None:
    """Terminate every other connection to this PostgreSQL database (a restart, as the
    server sees it)."""
    with engine.connect() as conn:
        conn.exec_driver_sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                             "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        conn.commit()


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_lost_database_connections(server, study, engine):
    """The server does not ping pooled connections: after the database drops them, a
    response is still stored at once (its idempotent statement runs again on a new
    connection), and another request fails once with a 503 JSON, then succeeds."""
    c = start(server)
    _, state = c.request("GET", "/api/session")
    assert answer(c, state["trials"][0])[0] == 201
    _drop_connections(engine)
    status, body = answer(c, state["trials"][1])
    assert status == 201, body
    _drop_connections(engine)
    status, body = c.request("GET", "/api/session")
    assert status == 503 and body["error"] == "busy"
    status, now = c.request("GET", "/api/session")
    assert status == 200 and now["answered"] == 2
    with session_scope(engine) as s:
        assert s.scalar(select(func.count()).select_from(Response)) == 2
