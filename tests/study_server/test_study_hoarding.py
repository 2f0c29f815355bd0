"""Nobody can hog a study: a short lease until the first answer, open sessions per address
and per identity, unanswered sessions bounded against the work left, and release of stuck
sessions from the command line and the admin page (their stored responses stay)."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from study_helpers import spec

from stylestudy.cli import cli
from stylestudy.db.engine import session_scope
from stylestudy.db.models import DesignCell, Response, StudySession, Trial, utcnow
from stylestudy.study_server.app import create_app
from stylestudy.study_server.study.studies import create_study
from stylestudy.study_server.tokens import token_hash
from stylestudy.study_server.web.admin import set_admin_password

ATTACKER, REAL = "203.0.113.66", "198.51.100.7"
PASSWORD = "correct horse battery"
#: spec(): 36 real cells; 2 judgments each = 72, 12 sessions of 6 real trials
SPEC = {"platform": "prolific", "completion_codes": {"completed": "C1"}}


@pytest.fixture
def app(db_url, engine, cset, monkeypatch):
    monkeypatch.setenv("STYLESTUDY_DATABASE_URL", db_url)
    create_study(spec(**SPEC), engine)
    return create_app({"DATABASE_URL": db_url, "REQUEST_LOG": False, "START_LIMIT": "60/minute",
                       "SESSION_COOKIE_SECURE": False})


def start(client, pid: str, addr: str, slug: str = "s1"):
    return client.post(f"/api/studies/{slug}/sessions", environ_base={"REMOTE_ADDR": addr},
                       json={"consent": True, "params": {"PROLIFIC_PID": pid,
                                                         "SESSION_ID": uuid.uuid4().hex}})


def trials_of(client, token: str) -> list[dict]:
    return client.get("/api/session", headers={"Authorization": f"Bearer {token}"}
                      ).json["trials"]


def answer(client, token: str, trial: dict):
    return client.post("/api/responses", headers={"Authorization": f"Bearer {token}"},
                       json={"response_id": str(uuid.uuid4()), "trial": trial["id"],
                             "choice": "left"})


def backdate(engine, tokens: list[str], minutes: float) -> None:
    """Move sessions (and their responses) ``minutes`` into the past."""
    past = dt.timedelta(minutes=minutes)
    with session_scope(engine, write=True) as s:  # in Python: SQLite has no date arithmetic
        for sess in s.scalars(select(StudySession).where(
                StudySession.token_hash.in_([token_hash(t) for t in tokens]))):
            sess.created_at -= past
            sess.lease_expires_at -= past
            for r in s.scalars(select(Response).where(Response.session_id == sess.id)):
                r.received_at -= past


def states(engine) -> dict[str, int]:
    with session_scope(engine) as s:
        return dict(s.execute(select(StudySession.state, func.count())
                              .group_by(StudySession.state)).all())


def held(engine) -> int:
    with session_scope(engine) as s:
        return s.scalar(select(func.sum(DesignCell.assigned)).where(DesignCell.kind == "real"))


def test_a_short_lease_until_the_first_answer(app, engine):
    """Consent holds the cells for `first_lease_minutes` (10); the first stored response
    renews the lease to `lease_minutes` (30)."""
    client = app.test_client()
    token = start(client, "p1", REAL).json["token"]

    def lease() -> float:
        with session_scope(engine) as s:
            sess = s.scalar(select(StudySession))
            return (sess.lease_expires_at - utcnow().replace(
                tzinfo=sess.lease_expires_at.tzinfo)).total_seconds() / 60

    assert 9.5 < lease() <= 10
    assert answer(client, token, trials_of(client, token)[0]).status_code == 201
    assert 29.5 < lease() <= 30


def test_thirty_starts_from_one_address_leave_trials_for_a_real_participant(app, engine):
    """30 starts from one address with made-up Prolific IDs (under the start limit of
    60/minute), none answering: the address holds 4 open sessions, the rest are refused,
    and a real participant from another address still gets a full session."""
    client = app.test_client()
    codes = [start(client, f"fake{i}", ATTACKER).status_code for i in range(30)]
    refused = start(client, "fake-last", ATTACKER)
    assert codes == [201] * 4 + [429] * 26, codes
    assert refused.json["error"] == "too_many_sessions"
    assert states(engine) == {"started": 4}
    real = start(client, "real1", REAL)
    assert real.status_code == 201
    trials = trials_of(client, real.json["token"])
    assert sum(not t["practice"] for t in trials) >= 6
    # a finished (or ended) session frees its address's place
    tokens = [start(client, f"again{i}", "192.0.2.1").json.get("token") for i in range(5)]
    assert tokens[-1] is None and all(tokens[:4])
    client.post("/api/session/return", headers={"Authorization": f"Bearer {tokens[0]}"})
    assert start(client, "again-after-return", "192.0.2.1").status_code == 201


def test_the_limit_per_address_is_a_setting(db_url, engine, cset, monkeypatch):
    monkeypatch.setenv("STYLESTUDY_OPEN_PER_ADDRESS", "0")  # a lab behind one address
    create_study(spec(**SPEC), engine)
    client = create_app({"DATABASE_URL": db_url, "REQUEST_LOG": False}).test_client()
    assert [start(client, f"lab{i}", ATTACKER).status_code for i in range(8)] == [201] * 8


def test_unanswered_sessions_are_bounded_against_the_work_left(app, engine):
    """Twelve addresses take all the work (72 judgments) and answer nothing. A burst of
    fresh starts is never refused for it, but once they are older than a minute a new
    participant reclaims the oldest: unanswered sessions hold at most half the work left."""
    client = app.test_client()
    hoard = [start(client, f"h{i}", f"203.0.113.{i}").json["token"] for i in range(12)]
    assert held(engine) == 72
    assert start(client, "early", REAL).json["error"] == "study_full"  # all fresh: a burst
    backdate(engine, hoard, minutes=2)
    real = start(client, "real", REAL)
    assert real.status_code == 201
    st = states(engine)
    # 72 judgments left: unanswered sessions may hold 36, the newcomer's 6 among them
    assert st == {"started": 6, "timed_out": 7}, st
    assert held(engine) == 36
    with session_scope(engine) as s:  # the oldest went first
        gone = s.scalars(select(StudySession.token_hash).where(
            StudySession.state == "timed_out")).all()
    assert set(gone) == {token_hash(t) for t in hoard[:7]}
    # an answering participant does not count as unanswered, and is never reclaimed
    token = real.json["token"]
    assert answer(client, token, trials_of(client, token)[0]).status_code == 201
    backdate(engine, [token], minutes=2)
    assert start(client, "third", "192.0.2.3").status_code == 201
    with session_scope(engine) as s:
        assert s.scalar(select(StudySession.state).where(
            StudySession.token_hash == token_hash(token))) == "started"


def test_one_open_session_per_identity(db_url, engine, cset):
    """With repeats allowed, an identity's new start ends its open session (its cells
    return), so one made-up ID cannot hold several."""
    create_study(spec(**SPEC, allow_repeats=True), engine)
    client = create_app({"DATABASE_URL": db_url, "REQUEST_LOG": False}).test_client()
    first = start(client, "same", REAL).json["token"]
    answer(client, first, trials_of(client, first)[0])
    second = start(client, "same", "192.0.2.9").json["token"]
    assert states(engine) == {"started": 1, "timed_out": 1}
    r = answer(client, first, trials_of(client, first)[1])
    assert r.status_code == 409 and r.json["error"] == "session_timed_out"
    with session_scope(engine) as s:
        assert s.scalar(select(func.count()).select_from(Response)) == 1  # kept
        own = s.scalar(select(func.count()).select_from(Trial).join(StudySession).where(
            StudySession.token_hash == token_hash(second), Trial.kind == "real"))
    assert held(engine) == own  # the first session's cells went back (it answered practice)


def test_release_from_the_command_line_and_the_admin_page(app, engine):
    """`stylestudy study release SLUG --idle 10` times out the started sessions idle for 10
    minutes (unanswered ones from their start); their stored responses stay and count, the
    unanswered cells return. The admin page's button does the same."""
    client = app.test_client()
    tok = {k: start(client, k, f"192.0.2.{i}").json["token"]
           for i, k in enumerate(["idle_answered", "idle_unanswered", "active"])}
    for t in trials_of(client, tok["idle_answered"])[:2]:
        assert answer(client, tok["idle_answered"], t).status_code == 201
    assert answer(client, tok["active"], trials_of(client, tok["active"])[0]).status_code == 201
    backdate(engine, [tok["idle_answered"], tok["idle_unanswered"]], minutes=20)
    before = held(engine)
    with session_scope(engine) as s:
        served_before = s.scalar(select(func.sum(DesignCell.served)))
    result = CliRunner().invoke(cli, ["study", "release", "s1", "--idle", "10"])
    assert result.exit_code == 0, result.output
    assert re.search(r"released 2 session\(s\) idle for 10 minutes or more: \d+ trials "
                     r"back in the pool; 2 stored responses stay", result.output)
    with session_scope(engine) as s:
        by = dict(s.execute(select(StudySession.token_hash, StudySession.state)).all())
        assert s.scalar(select(func.count()).select_from(Response)) == 3
        served = s.scalar(select(func.sum(DesignCell.served)))
    assert [by[token_hash(tok[k])] for k in ("idle_answered", "idle_unanswered", "active")] \
        == ["timed_out", "timed_out", "started"]
    assert held(engine) < before and served == served_before  # answered ones still count
    r = answer(client, tok["idle_unanswered"], trials_of(client, tok["idle_unanswered"])[0])
    assert r.status_code == 409 and r.json["completion"]["outcome"] == "technical_error"
    bad = CliRunner().invoke(cli, ["study", "release", "nope"])
    assert bad.exit_code == 2 and "no study" in bad.output
    # the admin button: --idle 0 releases the active session too
    set_admin_password("ada", PASSWORD)
    admin = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"',
                      admin.get("/admin/login").text).group(1)
    admin.post("/admin/login", data={"username": "ada", "password": PASSWORD,
                                     "csrf_token": token})
    page = admin.get("/admin/study/s1").text
    assert 'action="/admin/study/s1/release"' in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert admin.post("/admin/study/s1/release", data={"idle": "0"}).status_code == 400
    assert admin.post("/admin/study/s1/release",
                      data={"idle": "x", "csrf_token": token}).status_code == 400
    r = admin.post("/admin/study/s1/release", data={"idle": "0", "csrf_token": token},
                   follow_redirects=True)
    assert r.status_code == 200 and "Released 1 session" in r.text
    assert states(engine) == {"timed_out": 3}
    with session_scope(engine) as s:
        assert s.scalar(select(func.count()).select_from(Response)) == 3
        assert s.scalar(select(func.sum(DesignCell.assigned))) \
            == s.scalar(select(func.sum(DesignCell.served)))
        assert s.scalar(select(func.count()).select_from(Trial)) > 0


def test_downgrade_and_upgrade_keep_sessions(app, engine):
    """Revision 0008's downgrade drops only the address hashes and the admin logins (no
    participant data): an open session survives it and the upgrade that follows, and the
    limit counts it again only from new starts."""
    from alembic import command

    from stylestudy.db.migrate import alembic_config, current_revision, head_revision, upgrade

    client = app.test_client()
    token = start(client, "p1", REAL).json["token"]
    answer(client, token, trials_of(client, token)[0])
    with engine.begin() as conn:
        cfg = alembic_config(engine)
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0007")
    assert current_revision(engine) == "0007"
    upgrade(engine)
    assert current_revision(engine) == head_revision(engine)
    with session_scope(engine) as s:
        sess = s.scalar(select(StudySession))
        assert (sess.state, sess.client_hash) == ("started", None)
        assert s.scalar(select(func.count()).select_from(Response)) == 1
    assert answer(client, token, trials_of(client, token)[1]).status_code == 201


def test_a_bad_limit_setting_is_one_clear_error(monkeypatch):
    from stylestudy.errors import UserError

    monkeypatch.setenv("STYLESTUDY_OPEN_PER_ADDRESS", "four")
    with pytest.raises(UserError, match="STYLESTUDY_OPEN_PER_ADDRESS must be a whole number"):
        create_app({"DATABASE_URL": "sqlite://"})
