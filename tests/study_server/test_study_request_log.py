"""Structured request logs: one JSON line per request, no token or link in it."""

from __future__ import annotations

import hashlib
import json
import logging

from study_helpers import answer, spec, start

from stylestudy.study_server.ops.simulate import local_server
from stylestudy.study_server.study.studies import create_study
from stylestudy.study_server.web.request_log import log_record


def test_log_record_fields():
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/api/responses",
               "HTTP_AUTHORIZATION": "Bearer tok123"}
    rec = log_record(environ, "201 CREATED", 1.23456)
    assert rec["method"] == "POST" and rec["path"] == "/api/responses"
    assert rec["status"] == 201 and rec["ms"] == 1.23 and isinstance(rec["pid"], int)
    assert rec["session"] == hashlib.sha256(b"tok123").hexdigest()[:12]
    masked = log_record({"REQUEST_METHOD": "GET", "PATH_INFO": "/s/secret-link"}, "200 OK", 0)
    assert masked["path"] == "/s/…" and "session" not in masked
    assert "session" not in log_record({"HTTP_AUTHORIZATION": "Bearer  "}, "401 X", 0)


def test_each_request_logs_one_line(db_url, cset, engine, caplog):
    create_study(spec(), engine)
    caplog.set_level(logging.INFO, logger="stylestudy.requests")
    with local_server({"DATABASE_URL": db_url, "REQUEST_LOG": True}) as url:
        c = start(url)
        trial = c.request("GET", "/api/session")[1]["trials"][0]
        assert answer(c, trial)[0] == 201
        assert c.request("GET", "/api/nothing-here")[0] == 404
    lines = [json.loads(r.getMessage()) for r in caplog.records
             if r.name == "stylestudy.requests"]
    assert [(x["method"], x["path"], x["status"]) for x in lines] == [
        ("POST", "/api/studies/s1/sessions", 201), ("GET", "/api/session", 200),
        ("POST", "/api/responses", 201), ("GET", "/api/nothing-here", 404)]
    assert "session" not in lines[0]
    assert {x["session"] for x in lines[1:]} == {hashlib.sha256(c.token.encode()).hexdigest()[:12]}
    assert all(x["ms"] >= 0 for x in lines)
    assert not any(c.token in r.getMessage() for r in caplog.records)
