"""Bad input found by trying the server as an attacker: each answered 4xx (never 5xx, which
a client retries), a reused response id is a conflict, and CSV exports cannot run
formulas. In-process (the app factory's test client), on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import re
import uuid

import pytest
from sqlalchemy import func, select
from study_helpers import add_session, spec

from stylestudy.db.engine import session_scope
from stylestudy.db.models import Response, SessionEvent, Study
from stylestudy.study_server.platforms import payments
from stylestudy.study_server.study import exports
from stylestudy.study_server.study.studies import create_study
from stylestudy.study_server.web.admin import set_admin_password

SURROGATE = '"\\ud800"'  # a lone surrogate, as JSON text: no UTF-8 encoding exists
PASSWORD = "correct horse battery"


@pytest.fixture
def app(app, db_url, engine, monkeypatch):
    """The conftest's app with a study that takes a participant ID and cohorts."""
    monkeypatch.setenv("STYLESTUDY_DATABASE_URL", db_url)
    create_study(spec(participant_param="pid", cohorts={"param": "g", "caps": {"x": None}}),
                 engine)
    return app


def start(client, pid: str = "p1") -> tuple[dict, list[dict]]:
    r = client.post("/api/studies/s1/sessions",
                    json={"consent": True, "params": {"pid": pid, "g": "x"}})
    assert r.status_code == 201, r.json
    auth = {"Authorization": f"Bearer {r.json['token']}"}
    return auth, client.get("/api/session", headers=auth).json["trials"]


def raw(client, path: str, text: str, auth: dict | None = None):
    return client.post(path, data=text.encode(), headers={"Content-Type": "application/json",
                                                          **(auth or {})})


def test_lone_surrogates_are_client_errors(client):
    """A lone surrogate (valid JSON, but no text a database can store) in client_time, an
    event, the beacon token, the completion feedback or a start parameter is a 400 or
    422, and nothing is stored."""
    auth, trials = start(client)
    token = auth["Authorization"][7:]
    rid = str(uuid.uuid4())
    bodies = [
        ("/api/responses", f'{{"response_id": "{rid}", "trial": "{trials[1]["id"]}", '
                           f'"choice": "left", "client_time": {SURROGATE}}}', auth),
        ("/api/beacon", f'{{"token": {SURROGATE}, "response_id": "{rid}", '
                        f'"trial": "{trials[1]["id"]}", "choice": "left"}}', None),
        ("/api/beacon", f'{{"token": "{token}", "response_id": "{rid}", "trial": '
                        f'"{trials[1]["id"]}", "choice": "left", "client_time": {SURROGATE}}}',
         None),
        ("/api/events/beacon", f'{{"token": {SURROGATE}, "kind": "blur"}}', None),
        ("/api/events", f'{{"kind": "blur", "client_time": {SURROGATE}}}', auth),
        ("/api/events", f'{{"kind": "blur", "payload": {{{SURROGATE}: 1}}}}', auth),
        ("/api/studies/s1/sessions", f'{{"consent": true, "params": {{"pid": "p2", "g": "x"}},'
                                     f' "viewport": {{{SURROGATE}: 1}}}}', None),
        ("/api/studies/s1/sessions", f'{{"consent": true, "params": {{"pid": {SURROGATE}, '
                                     f'"g": "x"}}}}', None),
    ]
    for path, text, headers in bodies:
        r = raw(client, path, text, headers)
        assert 400 <= r.status_code < 500 and r.json["error"], (path, text, r.status_code)
    for t in trials:  # every trial answered: the feedback is the last thing to fail on
        r = client.post("/api/responses", json={"response_id": str(uuid.uuid4()),
                                                "trial": t["id"], "choice": "left"},
                        headers=auth)
        assert r.status_code == 201
    r = raw(client, "/api/session/complete", f'{{"feedback": {SURROGATE}}}', auth)
    assert r.status_code == 400 and r.json["error"] == "bad_json"
    assert client.get("/api/session", headers=auth).json["state"] == "started"
    r = raw(client, "/api/session/complete", '{"feedback": "\\ud83d\\ude00 fine"}', auth)
    assert r.status_code == 200  # a surrogate pair is one character (an emoji): stored


def test_reused_response_id_on_another_trial_is_a_conflict(client, engine):
    """The same response_id for the same trial is a replay (200, the first answer); for a
    different trial it is a 409, and that trial stays open."""
    auth, trials = start(client)
    body = {"response_id": str(uuid.uuid4()), "trial": trials[1]["id"], "choice": "left"}
    first = client.post("/api/responses", json=body, headers=auth)
    again = client.post("/api/responses", json=body, headers=auth)
    assert (first.status_code, again.status_code) == (201, 200) and first.json == again.json
    other = client.post("/api/responses", json={**body, "trial": trials[2]["id"]},
                        headers=auth)
    assert other.status_code == 409 and other.json["error"] == "response_id_reused"
    beacon = client.post("/api/beacon", json={**body, "trial": trials[2]["id"],
                                              "token": auth["Authorization"][7:]})
    assert beacon.status_code == 409
    with session_scope(engine) as s:
        assert s.scalar(select(func.count()).select_from(Response)) == 1
    assert not client.get("/api/session", headers=auth).json["trials"][2]["answered"]
    fresh = client.post("/api/responses", json={**body, "response_id": str(uuid.uuid4()),
                                                "trial": trials[2]["id"]}, headers=auth)
    assert fresh.status_code == 201


def admin_login(client) -> str:
    page = client.get("/admin/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = client.post("/admin/login", data={"username": "ada", "password": PASSWORD,
                                          "csrf_token": token})
    assert r.status_code == 302
    page = client.get("/admin/study/s1").text  # a login starts a new CSRF token
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


@pytest.mark.parametrize("value", ["²", "٣", "1²", "9" * 5000, "-3", "0", "1e3", " 4 5"])
def test_admin_cap_form_refuses_what_is_not_a_number(app, client, value):
    """Unicode digits (`²`, Arabic-Indic three) and numbers Python cannot read are a 400,
    not a 500; the cap is unchanged."""
    set_admin_password("ada", PASSWORD)
    token = admin_login(client)
    for cohort in (None, "x"):
        data = {"max_participants": value, "csrf_token": token, **({"cohort": cohort}
                                                                    if cohort else {})}
        r = client.post("/admin/study/s1/cap", data=data)
        assert r.status_code == 400, (value, cohort, r.status_code)
    r = client.post("/admin/study/s1/cap", data={"max_participants": "12", "csrf_token": token})
    assert r.status_code == 302


FORMULAS = ['=HYPERLINK("http://x.example","Hi")', "+1+1", "-2+3", "@SUM(A1)"]


def test_csv_exports_neutralise_formulas(client, engine):
    """A client field that starts with = + - @ tab or CR reaches every CSV export with a
    leading apostrophe (OWASP's CSV injection rule), so a spreadsheet shows it as text;
    numbers stay numbers."""
    auth, _ = start(client)
    for ct in FORMULAS:
        r = client.post("/api/events", json={"kind": "blur", "client_time": ct},
                        headers=auth)
        assert r.status_code == 201
    with session_scope(engine) as s:
        assert sorted(s.scalars(select(SessionEvent.client_time))) == sorted(FORMULAS)
        events = list(csv.DictReader(io.StringIO(exports.render(s, "s1", "events"))))
    assert sorted(e["client_time"] for e in events) == sorted("'" + f for f in FORMULAS)
    with session_scope(engine) as s:
        study = s.scalar(select(Study).where(Study.slug == "s1"))
    add_session(engine, study.id, {"participant": FORMULAS[0]}, decision="approved",
                platform="link")
    with session_scope(engine) as s:
        study = s.scalar(select(Study).where(Study.slug == "s1"))
        text = payments.render(study, payments.payment_rows(s, study, b"k"))
    row = next(csv.DictReader(io.StringIO(text)))
    assert row["participant"] == "'" + FORMULAS[0] and row["session_id"].isdigit()
    assert exports.csv_text([{"a": -1.5, "b": "-1.5"}], ["a", "b"]) == "a,b\n-1.5,'-1.5\n"
    assert [exports.neutralise(v) for v in ("\tx", "\rx", "x=1", 3)] == ["'\tx", "'\rx",
                                                                         "x=1", 3]
    # control characters (a tab or CR starts a formula too) never come from a client
    r = client.post("/api/events", json={"kind": "blur", "client_time": "\tx"}, headers=auth)
    assert r.status_code == 422 and r.json["error"] == "bad_client_time"
