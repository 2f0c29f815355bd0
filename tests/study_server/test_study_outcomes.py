"""Nobody who did not complete receives the completion code: every outcome a session can
end with, on every platform, and every answer the participant's page gets after it."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from sqlalchemy import select, update
from study_helpers import spec

from stylestudy.db.engine import session_scope
from stylestudy.db.models import BlockedIdentity, DesignCell, Study, StudySession, Trial, utcnow
from stylestudy.errors import UserError
from stylestudy.study_server.study import scheduling
from stylestudy.study_server.study.entry import completion_code
from stylestudy.study_server.study.spec import validate_spec
from stylestudy.study_server.study.studies import create_study
from stylestudy.study_server.tokens import pid_hash, token_hash

SECRET = b"outcomes-secret"
#: the paid code each platform's study configures (MTurk's paid path is its submit form)
PAID = "PAID42"
CODES = {"prolific": {"completed": PAID}, "link": {"completed": PAID}, "mturk": {}}
OWN = {"completed": PAID, "screened_out": "SCREEN7", "technical_error": "TECH9"}


def entry(platform: str, n: int) -> dict[str, str]:
    if platform == "prolific":
        return {"PROLIFIC_PID": f"pid{n}", "SESSION_ID": f"ses{n}", "STUDY_ID": "st"}
    if platform == "mturk":
        return {"assignmentId": f"A{n}", "workerId": f"W{n}", "hitId": "H",
                "turkSubmitTo": "https://workersandbox.mturk.com"}
    return {"pid": f"p{n}"}


class Page:
    """One participant's page: every JSON answer it receives is kept."""

    def __init__(self, client, slug: str, platform: str, n: int):
        self.client, self.slug, self.platform, self.n = client, slug, platform, n
        self.answers: list[dict] = []
        self.token = None

    def call(self, method: str, path: str, body=None) -> tuple[int, dict]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        r = self.client.open(path, method=method, json=body, headers=headers)
        self.answers.append(r.json)
        return r.status_code, r.json

    def start(self) -> int:
        status, out = self.call("POST", f"/api/studies/{self.slug}/sessions",
                                {"consent": True, "params": entry(self.platform, self.n)})
        if status == 201:
            self.token = out["token"]
        return status

    def trials(self) -> list[dict]:
        return self.call("GET", "/api/session")[1]["trials"]

    def answer(self, trial: dict, choice: str = "left") -> tuple[int, dict]:
        return self.call("POST", "/api/responses", {"response_id": str(uuid.uuid4()),
                                                    "trial": trial["id"], "choice": choice})

    def look_around(self) -> None:
        """What a page does after its session ended: reads it, reloads, answers, finishes."""
        self.call("GET", "/api/session")
        self.call("POST", "/api/session/reload")
        self.call("POST", "/api/responses", {"response_id": str(uuid.uuid4()),
                                             "trial": "0" * 32, "choice": "left"})
        self.call("POST", "/api/session/complete", {"feedback": "x"})


def practice_choice(engine, trial: dict, right: bool) -> str:
    """The right (or wrong) side of a practice trial (catch cells expect option A)."""
    with session_scope(engine) as s:
        left_is_a, expected = s.execute(
            select(Trial.left_is_a, DesignCell.expected).join(DesignCell)
            .where(Trial.public_id == trial["id"])).one()
    a_side = "left" if left_is_a else "right"
    b_side = "right" if left_is_a else "left"
    good = a_side if expected == "a" else b_side
    return good if right else (b_side if good == a_side else a_side)


def expire(engine, page: Page) -> None:
    """The session's lease runs out and the sweep times it out."""
    with session_scope(engine, write=True) as s:
        sess = s.scalar(select(StudySession).where(
            StudySession.token_hash == token_hash(page.token)))
        s.execute(update(StudySession).where(StudySession.id == sess.id)
                  .values(lease_expires_at=utcnow() - dt.timedelta(minutes=1)))
        scheduling.sweep_expired(s, sess.study_id, utcnow())


def session_id(engine, page: Page) -> int:
    with session_scope(engine) as s:
        return s.scalar(select(StudySession.id).where(
            StudySession.token_hash == token_hash(page.token)))


def run_outcomes(client, engine, slug: str, platform: str) -> dict[str, Page]:
    """One session per way to end a session (or to be refused at the start)."""
    pages = {}
    n = iter(range(1000))

    def page() -> Page:
        return Page(client, slug, platform, next(n))

    p = pages["completed"] = page()
    assert p.start() == 201
    trials = p.trials()
    assert p.answer(trials[0], practice_choice(engine, trials[0], right=True))[0] == 201
    for t in trials[1:]:
        assert p.answer(t)[0] == 201
    assert p.call("POST", "/api/session/complete", {})[0] == 200
    p.look_around()

    p = pages["screened_out: practice errors"] = page()
    p.start()
    first = p.trials()[0]
    assert first["practice"]
    p.answer(first, practice_choice(engine, first, right=False))
    p.look_around()

    p = pages["screened_out: reload in no-reload mode"] = page()
    p.start()
    p.call("POST", "/api/session/reload")
    p.look_around()

    p = pages["returned"] = page()
    p.start()
    first = p.trials()[0]
    assert p.answer(first, practice_choice(engine, first, right=True))[0] == 201
    p.call("POST", "/api/session/return")
    p.look_around()

    p = pages["timed_out"] = page()
    p.start()
    expire(engine, p)
    p.look_around()

    p = pages["timed_out: released"] = page()
    p.start()
    scheduling.release_study(slug, dt.timedelta(0), engine)
    p.look_around()

    p = pages["refused: already took part"] = page()
    p.n = 0  # the completed participant's identity
    assert p.start() == 409

    p = pages["refused: blocked"] = page()
    with session_scope(engine, write=True) as s:
        s.add(BlockedIdentity(pid_hash=pid_hash(SECRET, platform,
                                                list(entry(platform, p.n).values())[0]
                                                if platform != "mturk" else f"W{p.n}"),
                              reason="test"))
    assert p.start() == 403
    return pages


def actions(answers: list[dict]) -> list[dict]:
    return [a["completion"] for a in answers if isinstance(a, dict) and "completion" in a]


@pytest.fixture
def app_config(app_config):
    """The conftest's settings with a known server secret (completion codes are derived
    with it)."""
    return {**app_config, "SECRET": SECRET}


def make(engine, platform: str, slug: str, codes: dict) -> dict:
    create_study(spec(slug=slug, platform=platform, completion_codes=codes,
                      screen_out_after_practice_errors=1, max_reloads=0,
                      participant_param="pid" if platform == "link" else None,
                      judgments_per_cell=20), engine)
    with session_scope(engine) as s:
        return s.scalar(select(Study.spec).where(Study.slug == slug))


@pytest.mark.parametrize("platform", ["prolific", "mturk", "link"])
def test_only_completion_gets_the_paid_code(client, engine, platform):
    """A study that configures only the `completed` code (all that the spec requires):
    returned, screened-out (practice errors, a reload in no-reload mode), timed-out, released
    and refused participants never receive it, in any answer their page gets; Prolific and
    MTurk send them down the platform's no-code path (return the study / the HIT)."""
    stored = make(engine, platform, "only", CODES[platform])
    pages = run_outcomes(client, engine, "only", platform)
    done = actions(pages["completed"].answers)
    assert done and all(a["outcome"] == "completed" for a in done)
    paid = done[0]
    if platform == "mturk":
        assert paid["kind"] == "mturk"
    else:
        assert paid["code"] == PAID
    for outcome, page in pages.items():
        if outcome == "completed":
            continue
        text = json.dumps(page.answers)
        assert PAID not in text, outcome
        got = actions(page.answers)
        if outcome.startswith("refused"):
            assert not got, outcome
            continue
        assert got, outcome  # the page is told what to do
        for a in got:
            assert a["outcome"] != "completed", outcome
            if platform in ("prolific", "mturk"):
                assert a["kind"] == "return" and "code" not in a and "url" not in a, outcome
                assert "return" in a["message"].lower()
            else:  # a per-session code of its own, never the completed one
                assert a["kind"] == "code" and a["code"] != PAID
                sid = session_id(engine, page)
                assert a["code"] == completion_code(SECRET, stored, sid, a["outcome"])
                assert a["code"] != completion_code(SECRET, stored, sid, "completed")


@pytest.mark.parametrize("platform", ["prolific", "mturk", "link"])
def test_each_outcome_gets_its_own_code(client, engine, platform):
    """With a code for every outcome, each ending gets its own: screened-out sessions the
    screen-out code, timed-out and returned ones the technical-error code (MTurk: a submit
    form whose signed token names that outcome)."""
    make(engine, platform, "own", OWN)
    pages = run_outcomes(client, engine, "own", platform)
    for outcome, page in pages.items():
        got = actions(page.answers)
        if outcome.startswith("refused"):
            assert not got
            continue
        want = outcome.split(":")[0]
        want = "technical_error" if want in ("returned", "timed_out") else want
        assert got and {a["outcome"] for a in got} == {want}, outcome
        for a in got:
            if platform == "mturk":
                assert a["kind"] == "mturk"
                assert a["fields"]["completion_token"].split(".")[0].endswith(f":{want}")
            else:
                assert a["code"] == OWN[want]


@pytest.mark.parametrize("codes, outcome", [
    ({"completed": "C1", "screened_out": "C1"}, "screened_out"),
    ({"completed": "C1", "technical_error": "C1"}, "technical_error"),
    ({"completed": "C1", "screened_out": "S1", "technical_error": "S1"}, "technical_error"),
])
@pytest.mark.parametrize("platform", ["prolific", "mturk", "link"])
def test_create_refuses_a_shared_code(platform, codes, outcome):
    """A spec that would hand one outcome's code to another (the paid code to a screened-out
    participant, say) is refused at `study create`."""
    with pytest.raises(UserError, match=f"completion_codes.{outcome} .*its own code"):
        validate_spec({"slug": "a", "comparison_set": "x", "platform": platform,
                       "completion_codes": codes})
