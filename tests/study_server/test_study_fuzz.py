"""Fuzzing with hypothesis, on SQLite and PostgreSQL: no request to any endpoint gives a 5xx.

In-process (the app factory's test client): every route of the app's URL map. Each
generated request starts valid for its route (token, admin cookie, CSRF token, body) and
takes up to three mutations: a body field replaced by any JSON value or text (wrong types,
NUL, lone surrogates, huge and negative numbers) or dropped, a header (token, Origin,
content type, proxy headers, cookie, CSRF, conditional and range requests) replaced or
dropped, odd path arguments, another method, query parameters, or a different body
altogether; explicit examples add 10 MB bodies and past 500s. At least ``REQUESTS``
requests per database. Over real HTTP: raw bytes as bodies.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from study_helpers import make_comparison_set, spec

from stylestudy.study_server.app import create_app
from stylestudy.study_server.ops.client import ApiClient
from stylestudy.study_server.ops.simulate import local_server
from stylestudy.study_server.study.studies import create_study

pytestmark = pytest.mark.slow

#: generated requests per database; both databases together pass 1000
REQUESTS = 600
PASSWORD = "correct horse battery"

ANY_CHAR = st.characters(exclude_categories=())  # NUL and lone surrogates included
NASTY = ["", "\x00", "\ud800", "\udfff", "²", "٣", "-1", "0", "1e999", "NaN", " ",
         '=HYPERLINK("http://x.example","y")', "a" * 5000, "%00", "../..", "' OR 1=1 --",
         "<script>", "\u202e", "fz", "adm", "ada"]
TEXT = st.one_of(st.text(ANY_CHAR, max_size=40), st.sampled_from(NASTY))
NUMBER = st.one_of(st.integers(), st.floats(),
                   st.sampled_from([10**400, -10**400, 2**63, -(2**63) - 1, 1e308, -0.0]))
SCALAR = st.none() | st.booleans() | NUMBER | TEXT
JSON = st.recursive(SCALAR, lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(TEXT, inner, max_size=3), max_leaves=8)
LATIN = st.text(st.characters(max_codepoint=255, exclude_characters="\r\n"), max_size=40)
UUID = st.uuids(version=4).map(str)

PARAMS = ["PROLIFIC_PID", "SESSION_ID", "STUDY_ID", "assignmentId", "workerId", "hitId",
          "turkSubmitTo", "token", "pid", "g", "question", "next", "released", "retry"]


#: placeholders resolved at request time: the live token, trial, asset, session, CSRF
GOOD_TOKEN, TRIAL, ASSET, SESSION, CSRF = "<token>", "<trial>", "<asset>", "<sid>", "<csrf>"
COOKIE = "<admin-cookie>"
NOW = "2026-12-03T10:00:00.000Z"

#: a valid body per route, JSON for the API and a form for the admin
RESPONSE = {"response_id": UUID, "trial": st.just(TRIAL),
            "choice": st.sampled_from(["left", "right", "not_sure"]),
            "rt_ms": st.integers(0, 10_000), "client_time": st.just(NOW)}
EVENT = {"event_id": UUID, "kind": st.sampled_from(["blur", "focus", "preload_error"]),
         "payload": st.dictionaries(st.sampled_from(["url", "position"]),
                                    st.integers(0, 9), max_size=2), "client_time": st.just(NOW)}
VALID = {
    "/api/responses": ("json", RESPONSE),
    "/api/beacon": ("json", {**RESPONSE, "token": st.just(GOOD_TOKEN)}),
    "/api/events": ("json", EVENT),
    "/api/events/beacon": ("json", {**EVENT, "token": st.just(GOOD_TOKEN)}),
    "/api/studies/<slug>/sessions": ("json", {
        "consent": st.just(True), "params": st.fixed_dictionaries({"pid": UUID}),
        "viewport": st.fixed_dictionaries({"width": st.integers(800, 2000)})}),
    "/api/session/complete": ("json", {"feedback": st.sampled_from(["fine", ""])}),
    "/api/session/reload": ("json", {}),
    "/api/session/return": ("json", {}),
    "/admin/login": ("form", {"username": st.sampled_from(["ada", "nobody"]),
                              "password": st.just(PASSWORD), "csrf_token": st.just(CSRF)}),
    "/admin/logout": ("form", {"csrf_token": st.just(CSRF)}),
    "/admin/study/<slug>/state": ("form", {"state": st.sampled_from(["open", "paused"]),
                                           "csrf_token": st.just(CSRF)}),
    "/admin/study/<slug>/cap": ("form", {"max_participants": st.sampled_from(["3", ""]),
                                         "csrf_token": st.just(CSRF)}),
    "/admin/study/<slug>/release": ("form", {"idle": st.sampled_from(["10", "0"]),
                                             "csrf_token": st.just(CSRF)}),
    "/admin/study/<slug>/review/<int:session_id>": ("form", {
        "decision": st.sampled_from(["approved", "rejected", "screened_out"]),
        "csrf_token": st.just(CSRF)}),
}
FIELDS = sorted({f for _, fields in VALID.values() for f in fields} | {"cohort", "params"})
HEADERS = ["Authorization", "Origin", "Content-Type", "User-Agent", "X-Forwarded-For",
           "X-Forwarded-Host", "X-Forwarded-Proto", "Cookie", "X-CSRF-Token", "Range",
           "If-None-Match", "If-Modified-Since", "Content-Encoding"]
ODD_HEADERS = ["null", "http://localhost", "http://evil.example", "Bearer Zm9v",
               f"Bearer {GOOD_TOKEN}", COOKIE, "session=x.y.z", CSRF, "bytes=0-10", "bytes=-1",
               "*", "gzip",
               "Mozilla/5.0 (iPhone)", "application/json; charset=utf-16", "text/plain",
               "multipart/form-data; boundary=x", "application/x-www-form-urlencoded"]
OTHER_BODY = st.one_of(
    st.tuples(st.just("json"), JSON), st.tuples(st.just("raw"), st.binary(max_size=200)),
    st.tuples(st.just("form"), st.dictionaries(st.sampled_from(FIELDS), TEXT, max_size=4)))
#: what a mutation changes: a valid request plus a few of these covers both depth (few
#: mutations get past the first checks) and breadth
MUTATIONS = ["field", "field", "drop-field", "header", "header", "drop-header", "path",
             "method", "query", "body"]


@dataclass
class Req:
    """One generated request (placeholders still in it)."""

    path: str
    method: str
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: tuple[str, Any] | None = None


def _quote(text: str) -> str:
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


def _path_argument(name: str, converter: str, admin: bool, fuzz: bool) -> st.SearchStrategy:
    if converter == "IntegerConverter":
        valid = st.just(SESSION)
        odd = st.one_of(st.integers().map(str), st.sampled_from([str(10**30), "0", "-1"]))
    else:
        valid = st.sampled_from({"slug": ["adm" if admin else "fz"], "token": [ASSET],
                                 "fmt": ["csv", "pwcmp", "json", "events"],
                                 "filename": ["study.js", "study.css"]}.get(name, ["content"]))
        odd = TEXT.map(_quote)
    return odd if fuzz else valid


@st.composite
def requests_(draw, rules) -> Req:
    """A valid request to a route, then zero to three mutations of it."""
    # the participant's routes three times as often as the admin's (there are fewer)
    weighted = [r for r in rules for _ in range(1 if r[0].startswith("/admin/") else 3)]
    rule, arguments, converters, methods = draw(st.sampled_from(weighted))
    mutations = draw(st.lists(st.sampled_from(MUTATIONS), max_size=3))
    path = rule
    for name in sorted(arguments):
        value = draw(_path_argument(name, converters[name], rule.startswith("/admin/"),
                                    "path" in mutations))
        path = re.sub(rf"<(?:\w+:)?{name}>", lambda _, v=value: v, path)
    method = draw(st.sampled_from(sorted(methods - {"OPTIONS", "HEAD"})))
    if "method" in mutations:
        method = draw(st.sampled_from(["OPTIONS", "PUT", "DELETE", "HEAD", "GET", "POST"]))
    headers = {}
    if rule.startswith("/api/"):
        headers["Authorization"] = f"Bearer {GOOD_TOKEN}"
    if rule.startswith("/admin/"):
        headers["Cookie"] = COOKIE
    kind, fields = VALID.get(rule, (None, {}))
    body = dict(draw(st.fixed_dictionaries(fields))) if kind else None
    query = {}
    for m in mutations:
        if m == "header":
            headers[draw(st.sampled_from(HEADERS))] = draw(st.sampled_from(ODD_HEADERS) | LATIN)
        elif m == "drop-header" and headers:
            headers.pop(draw(st.sampled_from(sorted(headers))))
        elif m == "field" and isinstance(body, dict):
            body[draw(st.sampled_from(FIELDS))] = draw(JSON if kind == "json" else TEXT)
            kind = kind or "json"
        elif m == "drop-field" and isinstance(body, dict) and body:
            body.pop(draw(st.sampled_from(sorted(body))))
        elif m == "query":
            query = draw(st.dictionaries(st.sampled_from(PARAMS), TEXT, min_size=1, max_size=3))
        elif m == "body":
            kind, body = draw(OTHER_BODY)
    if method in ("GET", "HEAD"):
        kind = body = None
    return Req(path, method, query, headers, (kind, body) if kind else None)


class Target:
    """The app on one database, a participant session and an admin login kept alive."""

    def __init__(self, app, asset: str):
        self.app, self.asset, self.sent = app, asset, 0
        self.client = app.test_client(use_cookies=False)  # cookies only as drawn
        self.fresh_session()
        self.login()

    def fresh_session(self) -> None:
        r = self.client.post("/api/studies/fz/sessions", json={"consent": True,
                                                                "params": {"pid": "x"}})
        assert r.status_code == 201, r.json
        self.token = r.json["token"]
        trials = self.client.get("/api/session", headers={
            "Authorization": f"Bearer {self.token}"}).json["trials"]
        self.trials = [t["id"] for t in trials]

    def login(self) -> None:
        admin = self.app.test_client()
        page = admin.get("/admin/login").text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        r = admin.post("/admin/login", data={"username": "ada", "password": PASSWORD,
                                             "csrf_token": csrf})
        assert r.status_code == 302
        self.cookie = f"session={admin.get_cookie('session').value}"
        self.csrf = re.search(r'name="csrf_token" value="([^"]+)"',
                              admin.get("/admin/study/adm").text).group(1)

    def resolve(self, value: Any) -> Any:
        if isinstance(value, str):
            return (value.replace(GOOD_TOKEN, self.token).replace(TRIAL, self.trials[
                self.sent % len(self.trials)]).replace(ASSET, self.asset)
                .replace(SESSION, "1").replace(CSRF, self.csrf)
                .replace(COOKIE, self.cookie))
        if isinstance(value, dict):
            return {self.resolve(k): self.resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        return value

    def send(self, req: Req):
        headers = self.resolve(req.headers)
        data = None
        if req.body is not None:
            kind, body = req.body
            body = self.resolve(body)
            if kind == "json":
                data = json.dumps(body).encode()
                headers.setdefault("Content-Type", "application/json")
            elif kind == "form":
                data = "&".join(f"{_quote(k)}={_quote(v)}" for k, v in body.items()).encode()
                headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
            else:
                data = body
        query = "&".join(f"{_quote(k)}={_quote(self.resolve(v))}" for k, v in req.query.items())
        path = self.resolve(req.path) + (f"?{query}" if query else "")
        resp = self.client.open(path, method=req.method, headers=headers, data=data)
        self.sent += 1
        if req.path == "/admin/logout" or "release" in req.path:
            self.login()  # the fuzz may end the login; keep the admin reachable
        if self.sent % 40 == 0 or "/api/session/" in req.path:
            self.fresh_session()  # the fuzz answers, returns and reloads the session
        return path, resp


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres",
                                                              marks=pytest.mark.postgres)])
def database(request, tmp_path_factory):
    from stylestudy.db.engine import dispose_all, get_engine
    from tests.conftest import fresh_postgres_database

    home = tmp_path_factory.mktemp("fuzz")
    stack = contextlib.ExitStack()
    url = (stack.enter_context(fresh_postgres_database()) if request.param == "postgres"
           else f"sqlite:///{home}/db.sqlite3")
    keys = ("STYLESTUDY_HOME", "STYLESTUDY_SECRET", "STYLESTUDY_DATABASE_URL")
    old = {k: os.environ.get(k) for k in keys}
    os.environ.update(STYLESTUDY_HOME=str(home), STYLESTUDY_SECRET="fuzz",
                      STYLESTUDY_DATABASE_URL=url)
    engine = get_engine(url)
    make_comparison_set(engine)
    create_study(spec(slug="fz", participant_param="pid", judgments_per_cell=1000,
                      allow_not_sure=True, allow_repeats=True, max_reloads=5,
                      screen_out_after_practice_errors=3), engine)
    create_study(spec(slug="adm", cohorts={"param": "g", "caps": {"x": None}}), engine)
    from stylestudy.study_server.web.admin import set_admin_password

    set_admin_password("ada", PASSWORD)
    yield url
    dispose_all()
    stack.close()
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="module")
def target(database):
    app = create_app({"DATABASE_URL": database, "RATELIMIT_ENABLED": False,
                      "REQUEST_LOG": False, "SESSION_COOKIE_SECURE": False, "PROXIES": 1})
    client = app.test_client()
    r = client.post("/api/studies/fz/sessions", json={"consent": True, "params": {"pid": "a"}})
    state = client.get("/api/session", headers={"Authorization": f"Bearer {r.json['token']}"})
    asset = state.json["trials"][0]["left"].rsplit("/", 1)[1]
    t = Target(app, asset)
    yield t
    assert t.sent >= REQUESTS, f"only {t.sent} generated requests"


RULES = [(r.rule, frozenset(r.arguments), {k: type(v).__name__ for k, v in r._converters.items()},
          frozenset(r.methods)) for r in create_app({"DATABASE_URL": "sqlite://"}).url_map
         .iter_rules()]
TEN_MB = 10 * 1024 * 1024


@settings(max_examples=REQUESTS, deadline=None, suppress_health_check=list(HealthCheck),
          derandomize=True)
@given(req=requests_(sorted(RULES, key=lambda r: r[0])))
@example(req=Req("/api/responses", "POST", headers={"Authorization": f"Bearer {GOOD_TOKEN}"},
                 body=("json", {"response_id": str(uuid.uuid4()), "trial": TRIAL,
                                "choice": "left", "client_time": "\ud800"})))
@example(req=Req("/api/beacon", "POST", body=("json", {"token": "\ud800", "choice": "left"})))
@example(req=Req("/api/session/complete", "POST",
                 headers={"Authorization": f"Bearer {GOOD_TOKEN}"},
                 body=("json", {"feedback": "\ud800"})))
@example(req=Req("/api/responses", "POST", headers={"Authorization": f"Bearer {GOOD_TOKEN}"},
                 body=("raw", b'{"feedback": "' + b"a" * TEN_MB + b'"}')))
@example(req=Req("/api/studies/fz/sessions", "POST", body=("json", {
    "consent": True, "params": {"pid": "big"}, "viewport": {"w": 10**400, "h": -10**20}})))
@example(req=Req("/admin/login", "POST", headers={"Cookie": COOKIE},
                 body=("form", {"username": "a" * TEN_MB, "password": "x",
                                "csrf_token": CSRF})))
@example(req=Req("/admin/study/adm/cap", "POST", headers={"Cookie": COOKIE},
                 body=("form", {"max_participants": "²", "csrf_token": CSRF})))
@example(req=Req(f"/admin/study/adm/review/{10**30}", "POST",
                 headers={"Cookie": COOKIE},
                 body=("form", {"decision": "approved", "csrf_token": CSRF})))
@example(req=Req("/admin/study/adm/release", "POST", headers={"Cookie": COOKIE},
                 body=("form", {"idle": "9" * 400, "csrf_token": CSRF})))
@example(req=Req("/admin/study/adm/state", "POST", headers={"Cookie": COOKIE},
                 body=("form", {"state": "open", "csrf_token": "é"})))  # was a 500
@example(req=Req("/s/%ED%A0%80", "GET", headers={"Range": "bytes=-1"}))
def test_no_5xx_anywhere(target, req):
    path, resp = target.send(req)
    assert resp.status_code < 500, (req.method, path, req.headers, req.body, resp.data[:300])
    if path.startswith("/api/") and resp.status_code >= 400 and req.method != "HEAD":
        assert "error" in resp.json, (path, resp.data[:200])


@pytest.fixture(scope="module")
def http_server(database):
    with local_server({"DATABASE_URL": database}) as base:
        c = ApiClient(base)
        _, body = c.request("POST", "/api/studies/fz/sessions",
                            {"consent": True, "params": {"pid": "raw"}})
        yield base, body["token"]


PATHS = st.sampled_from(["/api/responses", "/api/beacon", "/api/events", "/api/events/beacon",
                         "/api/session/complete", "/api/session/return", "/api/studies/fz/sessions",
                         "/api/studies/%00/sessions", "/api/session", "/admin/login"])


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck),
          derandomize=True)
@given(raw=st.binary(max_size=300), ctype=st.sampled_from(["application/json", "text/plain",
                                                            "application/x-www-form-urlencoded"]),
       path=PATHS)
@example(raw=b"[" * 60_000, ctype="application/json", path="/api/responses")  # too deep
@example(raw=b'{"a":' * 12_000, ctype="application/json", path="/api/studies/fz/sessions")
@example(raw=b'{"kind":"blur","payload":' + b'{"a":' * 900 + b"1" + b"}" * 901,
         ctype="application/json", path="/api/events")  # parses, but deeper than storage
def test_no_5xx_on_raw_bytes_over_http(http_server, raw, ctype, path):
    base, token = http_server
    c = ApiClient(base)
    c.token = token
    conn = c._connection()
    conn.request("POST", path, body=raw, headers={"Content-Type": ctype,
                                                  "Authorization": f"Bearer {token}"})
    resp = conn.getresponse()
    data = resp.read()
    assert resp.status < 500, (path, raw, data[:200])
    if resp.status >= 400 and path.startswith("/api/"):
        assert "error" in json.loads(data)
