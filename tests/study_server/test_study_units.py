"""Pure parts: QC figures, completion actions, scheduling helpers, the OpenAPI document."""

from __future__ import annotations

import random

import pytest

from stylestudy.study_server.study.entry import (
    MTURK_PREVIEW,
    RETURN_MESSAGES,
    completion_action,
    parse_entry,
)
from stylestudy.study_server.study.qc import session_qc
from stylestudy.study_server.study.scheduling import Planned, order_trials, plan_counts
from stylestudy.study_server.study.spec import validate_spec
from stylestudy.study_server.tokens import pid_hash, sign
from stylestudy.study_server.web.openapi import openapi_document
from stylestudy.study_server.web.security import check_origin


def row(sid, tid, *, catch=0, chose_a=1, repeat="", rt=800.0, chosen="m1", practice=0,
        expected=None, not_sure=0):
    return {"session_id": sid, "trial_id": tid, "is_catch": catch,
            "chose_A": "" if not_sure else chose_a, "not_sure": not_sure,
            "is_repeat": int(bool(repeat)), "repeat_of": repeat, "rt_ms": rt,
            "chosen_method": "" if not_sure else chosen, "is_practice": practice,
            "expected": expected if expected is not None else ("a" if catch else "")}


def test_session_qc_hand_computed():
    rows = [
        # session 1: catch 3/4 (75 % < 80 %, one failure; "d" expected b, chose A),
        # repeat 1/1, median RT 800
        row(1, "a", catch=1), row(1, "b", catch=1), row(1, "c", catch=1, chose_a=0,
                                                        expected="b"),
        row(1, "d", catch=1, expected="b"), row(1, "e", chosen="m2"),
        row(1, "f", repeat="e", chosen="m2"),
        # session 2: catch 2/2, repeat inconsistent 0/1, median RT over the non-catch
        # trials 390 and 300 = 345 (the catch trials' 100 and 150 ms do not count)
        row(2, "g", catch=1, rt=100), row(2, "h", catch=1, rt=150),
        row(2, "i", chosen="m1", rt=390), row(2, "j", repeat="i", chosen="m3", rt=300),
        row(2, "p", practice=1, catch=1, chose_a=0, rt=10),  # practice never counts
        row(2, "u", catch=1, chose_a=0, expected=""),  # no expected answer: unscored
    ]
    qc = session_qc(rows)
    assert (qc[1].catch_n, qc[1].catch_correct, qc[1].catch_accuracy) == (4, 3, 0.75)
    assert (qc[1].repeat_n, qc[1].repeat_consistent, qc[1].median_rt_ms) == (1, 1, 800.0)
    assert qc[1].flags == ["catch"]
    assert (qc[2].catch_n, qc[2].catch_correct) == (2, 2)
    assert (qc[2].repeat_n, qc[2].repeat_consistent) == (1, 0)
    assert qc[2].median_rt_ms == 345.0
    assert qc[2].flags == ["repeat", "fast"]


def test_session_qc_not_sure():
    """A "not sure" catch answer is wrong even where option B was expected; repeats with a
    "not sure" on either side are not scored."""
    rows = [row(3, "a", catch=1, expected="b", not_sure=1), row(3, "b", catch=1),
            row(3, "e", not_sure=1), row(3, "f", repeat="e"),
            row(3, "g"), row(3, "h", repeat="g", not_sure=1),
            row(3, "i"), row(3, "j", repeat="i")]
    qc = session_qc(rows)[3]
    assert (qc.catch_n, qc.catch_correct) == (2, 1)
    assert (qc.repeat_n, qc.repeat_consistent) == (1, 1)


def test_session_qc_follows_the_studys_rules():
    """The dashboard flags by the study's pre-registered qc rules, as the analysis does."""
    from stylestudy.analysis.settings import Settings

    rows = [row(1, t, catch=1, chose_a=int(t != "d")) for t in "abcd"] + [row(1, "e", rt=350)]
    assert session_qc(rows)[1].flags == ["catch", "fast"]  # 75 % < 80 %; 350 < 400 ms
    rules = Settings.from_spec({"qc": {"catch_min_accuracy": 0.7, "rt_floor_ms": 300}}).qc
    assert session_qc(rows, rules)[1].flags == []


def test_qc_rules_are_one_definition_for_numbers_and_columns():
    """The dashboard (one session's numbers) and the analysis (a column per rule) call the
    same QCRules methods; at and beside each threshold both forms give the same answer."""
    import numpy as np
    import pandas as pd

    from stylestudy.analysis.settings import QCRules

    r = QCRules()
    catch = [(0, 0), (5, 1), (5, 2), (10, 1), (10, 2), (9, 1)]  # (n, failed)
    want = [False, False, True, False, True, False]  # 2 failures, or accuracy < 0.8
    assert [bool(r.fails_catch(n, f)) for n, f in catch] == want
    n, f = (pd.Series(x) for x in zip(*catch, strict=True))
    assert list(r.fails_catch(n, f)) == want
    rep = [(0, float("nan")), (3, 2 / 3), (10, 0.7), (1, 0.0)]
    want = [False, True, False, True]
    assert [bool(r.fails_repeat(n, c)) for n, c in rep] == want
    n, c = (pd.Series(x) for x in zip(*rep, strict=True))
    assert list(r.fails_repeat(n, c)) == want
    rts = [np.nan, 399.9, 400.0, 1200.0]
    assert [bool(r.too_fast(x)) for x in rts] == [False, True, False, False]
    assert list(r.too_fast(pd.Series(rts))) == [False, True, False, False]


def test_plan_counts():
    spec = validate_spec({"slug": "a", "comparison_set": "x", "trials_per_session": 20})
    p = plan_counts(spec, have_catch=True)
    # catch = max(4, round(0.1·20) = 2) = 4; repeat = round(0.1·20) = 2; practice 2
    assert (p.real, p.catch, p.repeat, p.practice) == (20, 4, 2, 2)
    p = plan_counts(spec, have_catch=False)
    assert (p.catch, p.practice) == (0, 0)


def test_order_trials_avoids_neighbours_when_possible():
    trials = [Planned(i, "real", ("content", c, 0), (c, c + 1), True)
              for i, c in enumerate([1, 1, 2, 2, 3, 3])]
    out = order_trials(trials, random.Random(0))
    assert sorted(t.cell_id for t in out) == list(range(6))
    assert all(a.item[1] != b.item[1] for a, b in zip(out, out[1:], strict=False))
    # 24 trials over 3 content images and 6 method pairs: an order without a shared
    # neighbour exists (contents 0,1,2,0,1,2,…); every seed must find one
    pairs = [(a, b) for a in range(4) for b in range(a + 1, 4)]
    hard = [Planned(i, "real", ("content", i % 3, 0), pairs[(i // 3) % 6], True)
            for i in range(24)]
    for seed in range(20):
        out = order_trials(hard, random.Random(seed))
        assert sorted(t.cell_id for t in out) == list(range(24))
        assert not any(a.item[1] == b.item[1] or a.pair == b.pair
                       for a, b in zip(out, out[1:], strict=False)), seed


def _spec(platform, **kw):
    return validate_spec({"slug": "a", "comparison_set": "x", "platform": platform, **kw})


def test_prolific_entry_and_redirect():
    spec = _spec("prolific", completion_codes={"completed": "C1", "screened_out": "S1"})
    e = parse_entry(spec, {"PROLIFIC_PID": "p", "STUDY_ID": "s", "SESSION_ID": "x"})
    assert (e.raw_id, e.payment["SESSION_ID"]) == ("p", "x")
    a = completion_action(b"k", spec, 7, "completed", {})
    assert a["url"] == "https://app.prolific.com/submissions/complete?cc=C1"
    assert completion_action(b"k", spec, 7, "screened_out", {})["code"] == "S1"
    # no technical_error code configured: Prolific's no-code path, never the completed code
    assert completion_action(b"k", spec, 7, "technical_error", {}) == {
        "kind": "return", "outcome": "technical_error", "message": RETURN_MESSAGES["prolific"]}


def test_mturk_entry_and_submit_host():
    spec = _spec("mturk")
    assert parse_entry(spec, {"assignmentId": MTURK_PREVIEW}).preview
    assert parse_entry(spec, {}).preview  # no assignment: never an accepted worker
    data = parse_entry(spec, {"assignmentId": "A", "workerId": "W",
                              "turkSubmitTo": "https://www.mturk.com/"}).data
    a = completion_action(b"k", spec, 3, "completed", data)
    assert a["url"] == "https://www.mturk.com/mturk/externalSubmit"  # trailing slash dropped
    assert a["fields"] == {"assignmentId": "A", "completion_token": sign(b"k", "3:completed")}
    # missing or foreign turkSubmitTo → the study's mode (sandbox by default)
    for bad in (None, "https://evil.example/"):
        a = completion_action(b"k", spec, 3, "completed", {"turk_submit_to": bad,
                                                           "assignment_id": "A"})
        assert a["url"] == "https://workersandbox.mturk.com/mturk/externalSubmit"


def test_link_codes():
    spec = _spec("link", completion_url="https://lab.example/done?x=1")
    a = completion_action(b"k", spec, 5, "completed", {})
    assert a["kind"] == "code" and a["code"].startswith("C") and len(a["code"]) == 10
    assert a["url"] == f"https://lab.example/done?x=1&code={a['code']}"
    assert completion_action(b"k", spec, 5, "completed", {})["code"] == a["code"]
    assert completion_action(b"other", spec, 5, "completed", {})["code"] != a["code"]


def test_pid_hash_is_keyed():
    assert pid_hash(b"k1", "prolific", "p") != pid_hash(b"k2", "prolific", "p")
    assert pid_hash(b"k1", "prolific", "p") != pid_hash(b"k1", "mturk", "p")
    assert len(pid_hash(b"k", "link", "x")) == 64


def test_openapi_document():
    doc = openapi_document()
    assert doc["openapi"].startswith("3.")
    assert {"/api/responses", "/api/studies/{slug}/sessions", "/api/session",
            "/api/session/complete"} <= set(doc["paths"])
    schema = doc["components"]["schemas"]["Response"]
    assert schema["required"] == ["response_id", "trial", "choice"]


@pytest.mark.parametrize("origin, path, ok", [
    (None, "/api/responses", True),                       # CLI clients send none
    ("http://study.example:8080", "/api/responses", True),
    ("http://study.example:8080/x", "/api/responses", False),
    ("https://study.example:8080", "/api/responses", False),
    ("http://study.example", "/api/responses", False),
    ("http://evil.example:8080", "/api/responses", False),
    ("null", "/api/responses", False),
    ("null", "/api/beacon", True),                         # a beacon from a sandboxed frame
    ("null", "/api/events/beacon", True),
])
def test_check_origin(origin, path, ok):
    from werkzeug.test import EnvironBuilder
    from werkzeug.wrappers import Request

    headers = {"Origin": origin} if origin else {}
    env = EnvironBuilder(path=path, method="POST", base_url="http://study.example:8080",
                         headers=headers).get_environ()
    assert check_origin(Request(env)) is ok
