"""Admin over real HTTP: login, CSRF, headers, dashboard figures, state, exports, reviews,
the restricted payments CSV."""

from __future__ import annotations

import csv
import io
import json
import re
import uuid

import pytest
import requests
from sqlalchemy import func, select
from study_helpers import add_session, spec

from stylestudy.db.engine import session_scope
from stylestudy.db.models import AdminUser, Bonus, Review, SessionEvent, Study, StudySession, Trial
from stylestudy.errors import UserError
from stylestudy.study_server.ops.client import ApiClient
from stylestudy.study_server.ops.simulate import local_server, simulate
from stylestudy.study_server.study.active import run_round
from stylestudy.study_server.study.exports import judgments
from stylestudy.study_server.study.studies import create_study, set_max_participants
from stylestudy.study_server.web.admin import set_admin_password

PASSWORD = "correct horse battery"


@pytest.fixture
def admin(db_url, engine, cset, monkeypatch):
    monkeypatch.setenv("STYLESTUDY_DATABASE_URL", db_url)
    create_study(spec(), engine)
    set_admin_password("ada", PASSWORD)
    with local_server({"DATABASE_URL": db_url, "SESSION_COOKIE_SECURE": False,
                       "RATELIMIT_ENABLED": True, "LOGIN_LIMIT": "5/minute"}) as url:
        yield url


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def login(url: str) -> requests.Session:
    s = requests.Session()
    token = csrf(s.get(f"{url}/admin/login").text)
    r = s.post(f"{url}/admin/login", data={"username": "ada", "password": PASSWORD,
                                           "csrf_token": token})
    assert r.status_code == 200 and "Studies" in r.text
    return s


def test_places_by_cohort(admin, engine, db_url):
    """A study with cohorts shows each cohort's places; simulated participants arrive
    through the cohorts' links."""
    create_study(spec(slug="s2", cohorts={"param": "g", "caps": {"x": 5, "y": None}}), engine)
    res = simulate("s2", 4, strengths={"m1": 1.0}, database_url=db_url, url=admin, seed=2)
    assert res.completed == 4
    with session_scope(engine) as ss:
        n = dict(ss.execute(select(StudySession.cohort, func.count())
                            .group_by(StudySession.cohort)).all())
    assert sum(n.values()) == 4 and set(n) <= {"x", "y"}
    s = login(admin)
    page = s.get(f"{admin}/admin/study/s2").text
    assert re.search(rf'id="cohorts">Places by cohort \(g\):\s*x {n.get("x", 0)} of 5; '
                     rf'y {n.get("y", 0)} of no cap', page), page
    cap = f"{admin}/admin/study/s2/cap"
    r = s.post(cap, data={"cohort": "y", "max_participants": "7", "csrf_token": csrf(page)})
    assert r.status_code == 200 and re.search(r"y \d+ of 7</p>", r.text)
    r = s.post(cap, data={"cohort": "z", "max_participants": "7", "csrf_token": csrf(page)})
    assert r.status_code == 400 and "no cohort &#39;z&#39;" in r.text
    assert s.post(cap, data={"cohort": "y", "max_participants": "7"}).status_code == 400
    with session_scope(engine) as ss:
        caps = ss.scalar(select(Study.spec).where(Study.slug == "s2"))["cohorts"]["caps"]
    assert caps == {"x": 5, "y": 7}


def test_password_is_hashed(admin, engine):
    with session_scope(engine) as s:
        user = s.scalar(select(AdminUser))
        assert PASSWORD not in user.password_hash and user.password_hash.startswith("scrypt:")
    with pytest.raises(UserError, match="10 characters"):
        set_admin_password("bob", "short")


def test_login_csrf_and_headers(admin):
    s = requests.Session()
    r = s.get(f"{admin}/admin/")
    assert r.url.endswith("/admin/login?next=/admin/")
    assert r.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
    # no CSRF token → 400, wrong password → 401
    assert s.post(f"{admin}/admin/login", data={"username": "ada",
                                                "password": PASSWORD}).status_code == 400
    token = csrf(s.get(f"{admin}/admin/login").text)
    assert s.post(f"{admin}/admin/login", data={"username": "ada", "password": "nope!",
                                                "csrf_token": token}).status_code == 401
    cookie = next(c for c in s.cookies)
    assert cookie.has_nonstandard_attr("HttpOnly")


def test_login_rate_limited(admin):
    s = requests.Session()
    token = csrf(s.get(f"{admin}/admin/login").text)
    codes = [s.post(f"{admin}/admin/login", data={"username": "x", "password": "y",
                                                  "csrf_token": token}).status_code
             for _ in range(6)]
    assert codes[:5] == [401] * 5 and codes[5] == 429


def test_dashboard_state_exports_review(admin, engine, db_url):
    res = simulate("s1", 3, strengths={"m1": 2.0}, noise=0.0, database_url=db_url, url=admin)
    assert res.completed == 3
    s = login(admin)
    page = s.get(f"{admin}/admin/study/s1").text
    assert "completed: 3" in page and 'id="places"' not in page
    assert "no rounds: targets are the design" in page
    done = run_round("s1", seed=11, engine=engine)
    page = s.get(f"{admin}/admin/study/s1").text
    assert re.search(rf"<td>1</td><td>[-0-9 :]+</td><td>{done.judgments}</td>\s*"
                     rf"<td>{len(done.cells)} \(\+1 each\)</td><td>full, seed 11</td>", page)
    set_max_participants("s1", 10, engine)
    page = s.get(f"{admin}/admin/study/s1").text
    assert re.search(r'id="places">Places taken: 3 of 10 ', page)
    cap = f"{admin}/admin/study/s1/cap"
    assert s.post(cap, data={"max_participants": "4"}).status_code == 400  # no CSRF token
    assert s.post(cap, data={"max_participants": "0", "csrf_token": csrf(page)}
                  ).status_code == 400
    r = s.post(cap, data={"max_participants": "4", "csrf_token": csrf(page)})
    assert r.status_code == 200 and "Places taken: 3 of 4 " in r.text
    r = s.post(cap, data={"max_participants": "", "csrf_token": csrf(page)})
    assert r.status_code == 200 and 'id="places"' not in r.text
    with session_scope(engine) as ss:
        assert ss.scalar(select(Study.spec))["max_participants"] is None
    # deterministic observers answer every catch trial correctly
    assert re.search(r'id="catch-accuracy">100.0 %', page)
    # pause: CSRF required
    assert s.post(f"{admin}/admin/study/s1/state", data={"state": "paused"}).status_code == 400
    r = s.post(f"{admin}/admin/study/s1/state", data={"state": "paused",
                                                      "csrf_token": csrf(page)})
    assert r.status_code == 200
    with session_scope(engine) as ss:
        assert ss.scalar(select(Study.state)) == "paused"
    # exports
    long = list(csv.DictReader(io.StringIO(s.get(f"{admin}/admin/study/s1/export.csv").text)))
    assert len(long) == 27 and long[0]["chosen_method"] in ("m1", "m2", "m3", "")
    pw = s.get(f"{admin}/admin/study/s1/export.pwcmp?question=content").text.splitlines()
    assert pw[0] == "Observer,Session,Scene,Condition_1,Condition_2,Selection"
    n_content_real = sum(r["question"] == "content" and r["is_catch"] == "0"
                         and r["is_repeat"] == "0" and r["is_practice"] == "0" for r in long)
    assert len(pw) - 1 == n_content_real
    assert s.get(f"{admin}/admin/study/s1/export.pwcmp").status_code == 400
    js = json.loads(s.get(f"{admin}/admin/study/s1/export.json").text)
    assert len(js) == 27 and {"rt", "response", "trial_index", "time_elapsed"} <= set(js[0])
    assert all(tok.isascii() and "/" not in tok for r in js for tok in r["stimulus"])
    with session_scope(engine) as ss:  # one session's client logged a failed image
        ss.add(SessionEvent(session_id=2, event_id=str(uuid.uuid4()), kind="image_error",
                            payload={"url": "/s/tok", "position": 4},
                            client_time="2026-11-23T22:00:00.000Z"))
    r = s.get(f"{admin}/admin/study/s1/export.events")
    assert r.headers["Content-Disposition"].endswith('s1-events.csv"')
    events = list(csv.DictReader(io.StringIO(r.text)))
    assert [(e["session_id"], e["kind"], json.loads(e["payload"]), e["client_time"])
            for e in events] == [("2", "image_error", {"url": "/s/tok", "position": 4},
                                  "2026-11-23T22:00:00.000Z")]
    assert events[0]["observer"] == next(x["observer"] for x in long if x["session_id"] == "2")
    rows = re.findall(r"<tr><td>(\d+)</td>.*?<td class=\"events\">([^<]*)</td>",
                      s.get(f"{admin}/admin/study/s1").text, re.S)
    assert rows == [("1", ""), ("2", "image_error 1"), ("3", "")]  # per session, by kind
    # review once
    r = s.post(f"{admin}/admin/study/s1/review/1", data={"decision": "approved",
                                                        "csrf_token": csrf(page)})
    assert r.status_code == 200
    r = s.post(f"{admin}/admin/study/s1/review/1", data={"decision": "screened_out",
                                                        "csrf_token": csrf(page)})
    assert r.status_code == 409
    with session_scope(engine) as ss:
        assert [(x.session_id, x.decision) for x in ss.scalars(select(Review))] == [
            (1, "approved")]


def _session_answering_catches(url: str, engine, slug: str, wrong: int) -> int:
    """A completed session whose first ``wrong`` catch trials are answered wrongly."""
    c = ApiClient(url)
    status, body = c.request("POST", f"/api/studies/{slug}/sessions", {"consent": True})
    assert status == 201, body
    c.token = body["token"]
    _, state = c.request("GET", "/api/session")
    with session_scope(engine) as ss:
        kinds = {t.public_id: (t.kind, t.left_is_a, t.session_id)
                 for t in ss.scalars(select(Trial))}
    misses = 0
    for trial in state["trials"]:
        kind, left_is_a, sid = kinds[trial["id"]]
        miss = kind == "catch" and misses < wrong  # a catch expects option A
        misses += miss
        choice = ("right" if left_is_a else "left") if miss else \
            ("left" if left_is_a else "right")
        assert c.request("POST", "/api/responses", {"response_id": str(uuid.uuid4()),
                                                    "trial": trial["id"], "choice": choice,
                                                    "rt_ms": 900})[0] == 201
    assert misses == wrong
    assert c.request("POST", "/api/session/complete", {})[0] == 200
    return sid


def test_reject_only_after_two_failed_attention_checks(admin, engine):
    """Rejecting is an explicit admin action allowed after two failed catch trials
    (Prolific's rule): offered and recorded for such a session, refused (409) with one
    failure; a made-up decision is a 400."""
    create_study(spec(slug="s3", min_catch_trials=2, practice_trials=0), engine)
    one = _session_answering_catches(admin, engine, "s3", 1)
    two = _session_answering_catches(admin, engine, "s3", 2)
    s = login(admin)
    page = s.get(f"{admin}/admin/study/s3").text
    forms = re.findall(r'review/(\d+)" class="inline">\s*<input[^>]*csrf_token[^>]*>\s*'
                       r'<input type="hidden" name="decision" value="(\w+)"', page)
    assert sorted(forms) == sorted([(str(one), "approved"), (str(one), "screened_out"),
                                    (str(two), "approved"), (str(two), "screened_out"),
                                    (str(two), "rejected")])
    url = f"{admin}/admin/study/s3/review"
    r = s.post(f"{url}/{one}", data={"decision": "rejected", "csrf_token": csrf(page)})
    assert r.status_code == 409 and "failed 1" in r.text
    r = s.post(f"{url}/{one}", data={"decision": "fired", "csrf_token": csrf(page)})
    assert r.status_code == 400
    r = s.post(f"{url}/{two}", data={"decision": "rejected", "csrf_token": csrf(page)})
    assert r.status_code == 200
    with session_scope(engine) as ss:
        assert [(x.session_id, x.decision) for x in ss.scalars(select(Review))] == [
            (two, "rejected")]
        every = judgments(ss, "s3")
        assert judgments(ss, "s3", two) == [r for r in every if r["session_id"] == two]
        assert {r["session_id"] for r in every} == {one, two}


def test_payments_download(admin, engine):
    study = create_study(spec(slug="pro", platform="prolific",
                              completion_codes={"completed": "C1"}), engine)
    first = add_session(engine, study.id, {"PROLIFIC_PID": "pp1", "SESSION_ID": "se1"},
                        "approved")
    pending = add_session(engine, study.id, {"PROLIFIC_PID": "pp2", "SESSION_ID": "se2"})
    url = f"{admin}/admin/study/pro/payments.csv"
    anon = requests.get(url, allow_redirects=False)
    assert anon.status_code == 302 and "/admin/login" in anon.headers["Location"]
    assert "pp1" not in anon.text
    with session_scope(engine, write=True) as db:  # the bonus ledger shows per session
        db.add(Bonus(session_id=first, reason="accuracy", amount_cents=125,
                     submission="se1", platform_study="st", state="paid"))
    s = login(admin)
    page = s.get(f"{admin}/admin/study/pro").text
    assert 'href="/admin/study/pro/payments.csv"' in page
    assert '<td class="bonuses">accuracy 1.25 paid</td>' in page
    r = s.get(url)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/csv")
    assert r.headers["Cache-Control"] == "no-store"
    assert r.headers["Content-Disposition"] == 'attachment; filename="pro-payments.csv"'
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [(x["PROLIFIC_PID"], x["SESSION_ID"], x["decision"]) for x in rows] == [
        ("pp1", "se1", "approved")]
    assert s.get(f"{admin}/admin/study/nope/payments.csv").status_code == 404
    # unreviewed sessions are left out until a decision is recorded (login + CSRF)
    r = s.post(f"{admin}/admin/study/pro/review/{pending}",
               data={"decision": "screened_out", "csrf_token": csrf(page)})
    assert r.status_code == 200
    rows = list(csv.DictReader(io.StringIO(s.get(url).text)))
    assert [(x["PROLIFIC_PID"], x["decision"]) for x in rows] == [("pp1", "approved"),
                                                                  ("pp2", "screened_out")]
