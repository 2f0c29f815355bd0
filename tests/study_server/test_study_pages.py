"""Participant pages, images, beacon, withdrawal and screen-out over real HTTP."""

from __future__ import annotations

import io
import re
import urllib.request
import uuid

import requests
import yaml
from click.testing import CliRunner
from PIL import Image
from sqlalchemy import func, select
from study_helpers import spec

from stylestudy.cli import cli
from stylestudy.db.engine import session_scope
from stylestudy.db.models import (
    Asset,
    DesignCell,
    Participant,
    Response,
    SessionEvent,
    Study,
    Trial,
)
from stylestudy.study_server.ops.client import ApiClient
from stylestudy.study_server.study.studies import create_study


def get(url: str) -> tuple[int, dict, bytes]:
    try:
        with urllib.request.urlopen(url) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def start(server: str, **body) -> ApiClient:
    c = ApiClient(server)
    status, out = c.request("POST", "/api/studies/s1/sessions", {"consent": True, **body})
    assert status == 201, out
    c.token = out["token"]
    return c


def test_participant_page_headers_and_preview(server, engine, cset):
    create_study(spec(platform="mturk"), engine)
    status, headers, body = get(f"{server}/study/s1?assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE")
    assert status == 200
    csp = headers["Content-Security-Policy"]
    assert "frame-ancestors 'self' https://*.mturk.com" in csp
    assert "form-action 'self'" in csp and "https://workersandbox.mturk.com" in csp
    assert "X-Frame-Options" not in headers
    assert b'id="preview-note"' in body and b"disabled" in body
    for label in cset["methods"]:  # no method name in the page
        assert f">{label}<".encode() not in body and f'"{label}"'.encode() not in body
    with session_scope(engine) as s:
        assert s.scalar(select(func.count()).select_from(Participant)) == 0
    assert get(f"{server}/study/nope")[0] == 404
    assert get(f"{server}/study/s1?assignmentId=A1")[0] == 400  # accepted but no workerId


def test_leave_warning_flag(server, engine, cset):
    """study.js asks before the tab closes only where the page says so."""
    create_study(spec(), engine)
    create_study(spec(slug="s2", warn_before_leave=False), engine)
    assert b'data-warn-leave="true"' in get(f"{server}/study/s1")[2]
    assert b'data-warn-leave="false"' in get(f"{server}/study/s2")[2]
    with session_scope(engine, write=True) as s:  # a spec stored before the flag existed
        study = s.scalar(select(Study).where(Study.slug == "s1"))
        study.spec = {k: v for k, v in study.spec.items() if k != "warn_before_leave"}
    assert b'data-warn-leave="true"' in get(f"{server}/study/s1")[2]


def test_images_by_token_only(server, engine, cset):
    create_study(spec(), engine)
    c = start(server)
    _, state = c.request("GET", "/api/session")
    t = state["trials"][1]
    status, headers, body = get(server + t["left"])
    assert status == 200 and headers["Content-Type"] == "image/png"
    assert headers["Cache-Control"] == "private, max-age=3600"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "Content-Disposition" not in headers and "ETag" not in headers
    im = Image.open(io.BytesIO(body))
    assert not im.info.get("exif") and not im.info.get("icc_profile") and not im.text
    left = Image.open(io.BytesIO(get(server + t["left"])[2]))
    right = Image.open(io.BytesIO(get(server + t["right"])[2]))
    assert left.size == right.size == (t["width"], t["height"])
    assert get(f"{server}/s/doesnotexist")[0] == 404
    with session_scope(engine) as s:
        paths = [a.path for a in s.scalars(select(Asset))]
    assert all(get(f"{server}/s/{p}")[0] == 404 for p in paths[:3])


def test_nul_in_urls_and_bodies_is_a_client_error(server, engine, cset):
    """A NUL character (which PostgreSQL cannot compare or store as text) in a path, a
    form or a body is answered 4xx on both databases, never 5xx (which a client retries)."""
    create_study(spec(), engine)
    for path in ("/study/%00", "/s/%00", "/study/s1?PROLIFIC_PID=%00"):
        assert get(server + path)[0] in (200, 400, 404), path
    c = ApiClient(server)
    status, err = c.request("POST", "/api/studies/%00/sessions", {"consent": True})
    assert 400 <= status < 500 and err["error"]
    admin = requests.Session()
    token = re.search(r'name="csrf_token" value="([^"]+)"',
                      admin.get(f"{server}/admin/login").text).group(1)
    r = admin.post(f"{server}/admin/login", data={"username": "a\x00", "password": "b",
                                                  "csrf_token": token})
    assert r.status_code in (400, 401)  # SQLite finds no such user; PostgreSQL cannot ask


def test_beacon_stores_with_token_in_body(server, engine, cset):
    create_study(spec(), engine)
    c = start(server)
    _, state = c.request("GET", "/api/session")
    body = {"token": c.token, "response_id": str(uuid.uuid4()),
            "trial": state["trials"][0]["id"], "choice": "left"}
    plain = ApiClient(server)
    assert plain.request("POST", "/api/beacon", body)[0] == 201
    assert plain.request("POST", "/api/beacon", body)[0] == 200
    assert plain.request("POST", "/api/beacon", {**body, "token": "nope"})[0] == 401
    event = {"token": c.token, "event_id": str(uuid.uuid4()), "kind": "blur", "payload": {}}
    assert plain.request("POST", "/api/events/beacon", event) == (201, {"stored": True})
    assert plain.request("POST", "/api/events/beacon", event) == (200, {"stored": False})
    assert plain.request("POST", "/api/events/beacon", {**event, "token": "nope"})[0] == 401
    with session_scope(engine) as s:
        assert s.scalar(select(func.count()).select_from(SessionEvent)
                        .where(SessionEvent.event_id == event["event_id"])) == 1
    # a beacon from an opaque origin (a sandboxed frame) says "Origin: null"; only the
    # two beacon paths accept it
    null = {"Origin": "null"}
    second = {**body, "response_id": str(uuid.uuid4()), "trial": state["trials"][1]["id"]}
    assert requests.post(f"{server}/api/beacon", json=second, headers=null).status_code == 201
    event2 = {**event, "event_id": str(uuid.uuid4())}
    assert requests.post(f"{server}/api/events/beacon", json=event2,
                         headers=null).status_code == 201
    third = {**second, "response_id": str(uuid.uuid4()), "trial": state["trials"][2]["id"]}
    r = requests.post(f"{server}/api/responses", json=third,
                      headers={**null, "Authorization": f"Bearer {c.token}"})
    assert r.status_code == 403 and r.json()["error"] == "bad_origin"


def test_withdraw_keeps_responses_and_releases_cells(server, engine, cset):
    create_study(spec(), engine)
    c = start(server)
    _, state = c.request("GET", "/api/session")
    for t in state["trials"][:3]:
        c.request("POST", "/api/responses", {"response_id": str(uuid.uuid4()),
                                             "trial": t["id"], "choice": "left"})
    status, out = c.request("POST", "/api/session/return", {})
    assert status == 200 and out["state"] == "returned"
    assert out["completion"]["outcome"] == "technical_error"
    with session_scope(engine) as s:
        assert s.scalar(select(func.count()).select_from(Response)) == 3
        answered_counted = s.scalar(select(func.sum(DesignCell.served)))
        assert s.scalar(select(func.sum(DesignCell.assigned))) == answered_counted
    status, err = c.request("POST", "/api/session/complete", {})
    assert status == 409 and err["error"] == "session_returned"


def test_practice_errors_screen_out(server, engine, cset):
    create_study(spec(practice_trials=2, screen_out_after_practice_errors=2,
                      completion_codes={"screened_out": "SCREEN1"}), engine)
    c = start(server)
    _, state = c.request("GET", "/api/session")
    with session_scope(engine) as s:
        left_is_a = dict(s.execute(select(Trial.public_id, Trial.left_is_a)).all())
    for t in state["trials"][:2]:
        assert t["practice"]
        wrong = "right" if left_is_a[t["id"]] else "left"  # catch cells expect option A
        status, out = c.request("POST", "/api/responses", {
            "response_id": str(uuid.uuid4()), "trial": t["id"], "choice": wrong})
        assert status == 201 and out["correct"] is False
    _, state = c.request("GET", "/api/session")
    assert state["state"] == "completed" and state["outcome"] == "screened_out"
    assert state["completion"]["code"] == "SCREEN1"
    with session_scope(engine) as s:
        assert s.scalar(select(func.sum(DesignCell.assigned))) == 0  # all cells released


def test_export_cli(tmp_path, server, engine, cset, db_url, monkeypatch):
    monkeypatch.setenv("STYLESTUDY_DATABASE_URL", db_url)
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(spec()))
    assert CliRunner().invoke(cli, ["study", "create", str(path)]).exit_code == 0
    c = start(server)
    _, state = c.request("GET", "/api/session")
    for t in state["trials"]:
        c.request("POST", "/api/responses", {"response_id": str(uuid.uuid4()),
                                             "trial": t["id"], "choice": "right"})
    out = tmp_path / "long.csv"
    res = CliRunner().invoke(cli, ["study", "export", "s1", "-o", str(out)])
    assert res.exit_code == 0 and len(out.read_text().splitlines()) == 1 + 9
    res = CliRunner().invoke(cli, ["study", "export", "s1", "--format", "pwcmp"])
    assert res.exit_code == 2 and "--question" in res.output
    c.request("POST", "/api/events", {"event_id": str(uuid.uuid4()), "kind": "blur"})
    res = CliRunner().invoke(cli, ["study", "export", "s1", "--format", "events"])
    assert res.exit_code == 0 and res.output.splitlines()[0] == \
        "observer,session_id,kind,payload,client_time,received_at"
    assert [line.split(",")[2] for line in res.output.splitlines()[1:]] == ["blur"]
    res = CliRunner().invoke(cli, ["study", "export", "nope"])
    assert res.exit_code == 2 and "no study" in res.output
    res = CliRunner().invoke(cli, ["study", "export", "nope", "--format", "events"])
    assert res.exit_code == 2 and "no study" in res.output
