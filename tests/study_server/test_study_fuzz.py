"""API fuzzing with hypothesis over real HTTP, on SQLite and PostgreSQL: any body, header
or path gives no 5xx."""

from __future__ import annotations

import json
import uuid

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from study_helpers import make_comparison_set, spec

from study_server.client import ApiClient
from study_server.simulate import local_server
from study_server.studies import create_study

pytestmark = pytest.mark.slow

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                max_size=4),
    max_leaves=12)
FIELDS = st.fixed_dictionaries({}, optional={
    "response_id": st.one_of(st.uuids().map(str), st.text(max_size=40), JSON),
    "trial": st.one_of(st.text(alphabet="0123456789abcdef", min_size=32, max_size=32), JSON),
    "choice": st.one_of(st.sampled_from(["left", "right", "not_sure"]), JSON),
    "rt_ms": st.one_of(st.floats(), st.integers(), JSON),
    "client_time": JSON, "token": st.text(max_size=50), "consent": JSON,
    "params": st.one_of(st.dictionaries(st.sampled_from(["pid", "PROLIFIC_PID", "x"]),
                                        st.text(max_size=200), max_size=3), JSON),
    "viewport": JSON, "kind": st.one_of(st.sampled_from(["blur", "preload_error"]), JSON),
    "payload": JSON, "feedback": JSON,
    "event_id": st.one_of(st.uuids().map(str), JSON)})
PATHS = st.sampled_from(["/api/responses", "/api/beacon", "/api/events", "/api/events/beacon",
                         "/api/session/complete", "/api/session/return", "/api/studies/fz/sessions",
                         "/api/studies/%00/sessions", "/api/session"])


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def fuzz_server(request, tmp_path_factory):
    import contextlib
    import os

    from db.engine import dispose_all, get_engine
    from tests.conftest import fresh_postgres_database

    home = tmp_path_factory.mktemp("fuzz")
    stack = contextlib.ExitStack()
    url = (stack.enter_context(fresh_postgres_database()) if request.param == "postgres"
           else f"sqlite:///{home}/db.sqlite3")
    old = {k: os.environ.get(k) for k in ("STYLESTUDY_HOME", "STYLESTUDY_SECRET")}
    os.environ.update(STYLESTUDY_HOME=str(home), STYLESTUDY_SECRET="fuzz")
    engine = get_engine(url)
    make_comparison_set(engine)
    create_study(spec(slug="fz", participant_param="pid", judgments_per_cell=1000,
                      allow_not_sure=True), engine)
    with local_server({"DATABASE_URL": url}) as base:
        c = ApiClient(base)
        _, body = c.request("POST", "/api/studies/fz/sessions", {"consent": True})
        c.token = body["token"]
        _, state = c.request("GET", "/api/session")
        yield base, body["token"], state["trials"]
    dispose_all()
    stack.close()
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(path=PATHS, body=st.one_of(FIELDS, JSON), auth=st.sampled_from(["good", "none", "bad"]),
       use_trial=st.booleans())
def test_no_5xx_on_any_json(fuzz_server, path, body, auth, use_trial):
    base, token, trials = fuzz_server
    if use_trial and isinstance(body, dict):
        body = {**body, "trial": trials[len(path) % len(trials)]["id"],
                "response_id": str(uuid.uuid4())}
    c = ApiClient(base)
    c.token = {"good": token, "none": None, "bad": "Zm9v"}[auth]
    method = "GET" if path == "/api/session" else "POST"
    status, out = c.request(method, path, body if method == "POST" else None)
    assert status < 500, (path, body, out)
    if status >= 400:
        assert "error" in out


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(raw=st.binary(max_size=300), ctype=st.sampled_from(["application/json", "text/plain",
                                                            "application/x-www-form-urlencoded"]),
       path=PATHS)
@example(raw=b"[" * 60_000, ctype="application/json", path="/api/responses")  # too deep
@example(raw=b'{"a":' * 12_000, ctype="application/json", path="/api/studies/fz/sessions")
@example(raw=b'{"kind":"blur","payload":' + b'{"a":' * 900 + b"1" + b"}" * 901,
         ctype="application/json", path="/api/events")  # parses, but deeper than storage
def test_no_5xx_on_raw_bytes(fuzz_server, raw, ctype, path):
    base, token, _ = fuzz_server
    c = ApiClient(base)
    c.token = token
    conn = c._connection()
    conn.request("POST", path, body=raw, headers={"Content-Type": ctype,
                                                  "Authorization": f"Bearer {token}"})
    resp = conn.getresponse()
    data = resp.read()
    assert resp.status < 500, (path, raw, data[:200])
    if resp.status >= 400:
        assert "error" in json.loads(data)
