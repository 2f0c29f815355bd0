"""Simulated participants that take a study through the real HTTP API.

Each simulated participant judges with a Thurstone Case V observer: option *i* has a
latent quality ``strengths[label_i]`` plus Gaussian noise of standard deviation ``noise``,
so P(left) = Φ((s_left − s_right) / (noise·√2)) (Thurstone 1927, Case V; the model pwcmp
scales in JOD units, Perez-Ortiz & Mantiuk, arXiv 1712.03686). Catch distractors (no
method) get ``min(strengths) − catch_gap``. With probability ``lapse`` a participant
clicks at random. Where the study allows "not sure", ``not_sure_below`` = τ > 0 adds an
indifference threshold (Glenn & David 1960, the Thurstone–Mosteller model with ties): the
participant answers "not sure" when the noisy difference falls within ±τ, so
P(not sure) = Φ((τ − d)/σ) − Φ((−τ − d)/σ) with d = s_left − s_right, σ = noise·√2.
The simulator knows which method is behind an image token by reading the study's design
from the database — the server never tells participants.

Each answer is drawn from a stream of its own, seeded by ``seed``, the cell (question,
content and style images by SHA-256, kind, method labels) and how many answers that cell
had before in this run: the server decides which participant gets which cell, and the
order depends on how requests interleave, but the judgments of every cell are the same for
the same seed. Identifiers (participant IDs, response IDs) are fresh in every run, so a
second run never collides with the first. A participant that cannot finish (a response
refused, the connection lost) returns its session, so no run leaves sessions open.
"""

from __future__ import annotations

import math
import random
import secrets
import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from werkzeug.serving import WSGIRequestHandler, make_server

from stylestudy.db.engine import get_engine, session_scope
from stylestudy.db.judgments import cell_parts
from stylestudy.db.models import DesignCell
from stylestudy.errors import UserError
from stylestudy.study_server.ops.client import ApiClient
from stylestudy.study_server.study.lookup import study_or_fail
from stylestudy.study_server.study.spec import question_rules

__all__ = ["SimulationResult", "choice_probabilities", "local_server", "simulate"]


@dataclass
class SimulationResult:
    participants: int = 0
    completed: int = 0
    responses: int = 0
    outcomes: Counter = field(default_factory=Counter)
    refused: Counter = field(default_factory=Counter)
    codes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SimCell:
    """What the simulator knows of a design cell: a key stable across databases, the
    token of option A, and each option token's method label (None: a catch distractor)."""

    key: str
    a: str
    labels: dict[str, str | None]


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:  # the app logs requests itself
        pass


@contextmanager
def local_server(config: dict[str, Any] | None = None):
    """The real app on an ephemeral loopback port in a thread; yields its base URL."""
    from stylestudy.study_server.app import create_app

    app = create_app({"RATELIMIT_ENABLED": False, "REQUEST_LOG": False, **(config or {})})
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def cell_labels(slug: str, database_url: str | None = None
                ) -> tuple[dict, dict[tuple[str, str | None, frozenset], SimCell]]:
    """(study spec, (question, reference token or None where the question shows none,
    {option tokens}) → its cell).

    Keyed by the whole cell because one image can be a method's option in one cell and a
    catch distractor (no method) in another.
    """
    with session_scope(get_engine(database_url)) as s:
        study = study_or_fail(s, slug)
        cp = cell_parts()
        rows = s.execute(cp.join(
            select(cp.ref.token, cp.a.token, cp.method_a.label, cp.b.token,
                   cp.method_b.label, DesignCell.question, DesignCell.kind, cp.content.sha256,
                   cp.style.sha256).select_from(DesignCell))
            .where(DesignCell.study_id == study.id)).all()
        spec = study.spec
    shown = {q: r["reference"] != "none" for q, r in question_rules(spec).items()}
    return spec, {(q, rt if shown[q] else None, frozenset((at, bt))):
                  SimCell(f"{q}|{cs}|{ss}|{kind}|{al}|{bl}", at, {bt: bl, at: al})
                  for rt, at, al, bt, bl, q, kind, cs, ss in rows}


def entry_params(spec: dict, rng: random.Random) -> dict[str, str]:
    """Entry query parameters a platform would append, with fresh random IDs (never from
    the seed: a second run must not arrive as the first run's participants); in a study
    with cohorts, the link of a cohort drawn with ``rng``."""
    def rid(prefix: str) -> str:
        return f"{prefix}{secrets.token_hex(8)}"

    if spec["platform"] == "prolific":
        params = {"PROLIFIC_PID": rid("sim"), "STUDY_ID": rid("study"), "SESSION_ID": rid("s")}
    elif spec["platform"] == "mturk":
        params = {"workerId": rid("W"), "assignmentId": rid("A"), "hitId": rid("H"),
                  "turkSubmitTo": "https://workersandbox.mturk.com"}
    elif spec["participant_param"]:
        params = {spec["participant_param"]: rid("p")}
    else:
        params = {}
    if spec.get("cohorts"):
        params[spec["cohorts"]["param"]] = rng.choice(sorted(spec["cohorts"]["caps"]))
    return params


def _phi(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def p_left(s_left: float, s_right: float, noise: float) -> float:
    """Thurstone Case V choice probability for the left option."""
    if noise <= 0:
        return 1.0 if s_left > s_right else 0.0 if s_left < s_right else 0.5
    return _phi((s_left - s_right) / (noise * math.sqrt(2.0)))


def choice_probabilities(s_left: float, s_right: float, noise: float, tau: float = 0.0
                         ) -> tuple[float, float]:
    """(P(left), P(not sure)) of a Thurstone Case V observer with indifference threshold
    ``tau`` on the noisy difference (``tau`` 0: strict 2AFC, P(not sure) = 0)."""
    if tau <= 0:
        return p_left(s_left, s_right, noise), 0.0
    d = s_left - s_right
    if noise <= 0:
        return float(d >= tau), float(abs(d) < tau)
    sigma = noise * math.sqrt(2.0)
    below = _phi((tau - d) / sigma)
    return 1.0 - below, below - _phi((-tau - d) / sigma)


class _Draws:
    """Each cell's answers in this run, numbered: answer k of cell c is drawn from the
    stream seeded by (seed, c, k), whoever gives it."""

    def __init__(self, seed: int) -> None:
        self.seed, self.taken, self.lock = seed, Counter(), threading.Lock()

    def next(self, key: str) -> random.Random:
        with self.lock:
            k = self.taken[key]
            self.taken[key] += 1
        return random.Random(f"{self.seed}|{key}|{k}")


@dataclass
class _Run:
    """What every simulated participant of one run shares."""

    base_url: str
    slug: str
    spec: dict
    cells: dict
    strengths: dict[str, dict[str, float]]
    noise: float
    lapse: float
    catch_gap: float
    tau: float
    draws: _Draws
    result: SimulationResult
    lock: threading.Lock
    full: threading.Event | None


def _cell(run: _Run, trial: dict) -> SimCell:
    ref = trial["reference"][3:] if trial["reference"] else None  # None: not shown
    return run.cells[(trial["question"], ref,
                      frozenset((trial["left"][3:], trial["right"][3:])))]


def _answer(run: _Run, trial: dict, role: str, allow_not_sure: bool) -> str:
    """left, right or not_sure for one trial, from the next draw of its cell in its
    ``role`` (practice, main, repeat)."""
    left, right = trial["left"][3:], trial["right"][3:]
    cell = _cell(run, trial)
    q = trial["question"]
    floor = min(run.strengths[q].values(), default=0.0) - run.catch_gap
    rng = run.draws.next(f"{cell.key}|{role}")
    lapsed = rng.random() < run.lapse
    u = rng.random()
    if lapsed or left == right:  # a coin flip; identical images cannot be told apart
        return "left" if u < 0.5 else "right"
    b = left if right == cell.a else right
    sa, sb = (run.strengths[q][cell.labels[t]] if cell.labels[t] else floor
              for t in (cell.a, b))
    pa, pn = choice_probabilities(sa, sb, run.noise, run.tau if allow_not_sure else 0.0)
    if u >= pa + pn:
        return "right" if left == cell.a else "left"
    return "not_sure" if u >= pa else "left" if left == cell.a else "right"


def _participant(run: _Run, rng: random.Random) -> None:
    result, lock = run.result, run.lock
    if run.full is not None and run.full.is_set():
        return  # the design is full: this participant does not arrive
    client = ApiClient(run.base_url)
    started = finished = False
    try:
        status, body = client.request("POST", f"/api/studies/{run.slug}/sessions",
                                      {"consent": True, "params": entry_params(run.spec, rng),
                                       "viewport": {"width": 1920, "height": 1080}},
                                      retries=0)
        if status != 201:
            error = body.get("error", str(status))
            if error == "study_full" and run.full is not None:
                run.full.set()
            with lock:
                result.participants += 1
                result.refused[error] += 1
            return
        started = True
        client.token = body["token"]
        status, state = client.request("GET", "/api/session")
        stored, shown = 0, set()
        for t in state["trials"]:
            role = "practice"
            if not t["practice"]:  # a cell seen before in this session: its repeat
                key = _cell(run, t).key
                role = "repeat" if key in shown else "main"
                shown.add(key)
            if t["answered"]:
                continue
            status, out = client.request("POST", "/api/responses", {
                "response_id": str(uuid.uuid4()), "trial": t["id"],
                "choice": _answer(run, t, role, bool(state.get("allow_not_sure"))),
                "rt_ms": round(rng.uniform(600, 2500))})
            if status in (200, 201):
                stored += 1
            else:
                with lock:
                    result.refused[out.get("error", str(status))] += 1
                if out.get("completion"):
                    break
        status, out = client.request("POST", "/api/session/complete", {})
        if status != 200:  # screened out by practice, or refused
            status, state = client.request("GET", "/api/session")
            if state.get("completion"):
                out = {"completion": state["completion"]}
            else:  # cannot finish: give the cells back
                with lock:
                    result.refused[out.get("error", str(status))] += 1
                status, out = client.request("POST", "/api/session/return", {})
                out = {"returned": status == 200, **out}
        finished = True
        with lock:
            result.participants += 1
            result.responses += stored
            comp = out.get("completion")
            if out.get("returned"):
                result.outcomes["returned"] += 1
            elif comp:
                result.completed += comp["outcome"] == "completed"
                result.outcomes[comp["outcome"]] += 1
                result.codes.append(comp["code"])
            else:
                result.refused[out.get("error", str(status))] += 1
    finally:
        if started and not finished:  # lost on the way: give the cells back
            with suppress(ConnectionError):
                client.request("POST", "/api/session/return", {})
        client.close()


def simulate(slug: str, participants: int, *,
             strengths: dict[str, float] | dict[str, dict[str, float]] | None = None,
             noise: float = 1.0, seed: int = 0, url: str | None = None,
             concurrency: int = 4, lapse: float = 0.0, catch_gap: float = 3.0,
             not_sure_below: float = 0.0, database_url: str | None = None,
             stop_when_full: bool = False) -> SimulationResult:
    """Run up to ``participants`` simulated participants through study ``slug``.

    ``url=None`` starts the real app on an ephemeral loopback port (a thread) and stops it
    afterwards; otherwise the server at ``url`` is used (it must use the same database).
    ``strengths`` maps method labels to strengths for every question, or question key
    (``content``, ``style`` or one the study declares) to such a mapping. Methods missing
    from it have strength 0.
    With ``stop_when_full`` no participant arrives after one was told ``study_full``.
    """
    if participants < 1:
        raise UserError("participants must be at least 1")
    if noise < 0 or not 0 <= lapse <= 1 or not_sure_below < 0:
        raise UserError("noise and not_sure_below must be >= 0 and lapse in [0, 1]")
    spec, cells = cell_labels(slug, database_url)
    known = {lab for cell in cells.values() for lab in cell.labels.values() if lab}
    given = strengths or {}
    questions = spec["questions"]
    per_q = ({q: given.get(q) or {} for q in questions}
             if given and all(isinstance(v, dict) for v in given.values())
             and set(given) <= set(questions) else {q: given for q in questions})
    unknown = set().union(*per_q.values()) - known
    if unknown:
        raise UserError(f"unknown method label(s) in strengths: {', '.join(sorted(unknown))}")
    table = {q: {lab: float(v.get(lab, 0.0)) for lab in known} for q, v in per_q.items()}
    result = SimulationResult()
    rngs = [random.Random(f"{seed}:{i}") for i in range(participants)]

    def run(base: str) -> None:
        shared = _Run(base, slug, spec, cells, table, noise, lapse, catch_gap, not_sure_below,
                      _Draws(seed), result, threading.Lock(),
                      threading.Event() if stop_when_full else None)
        with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
            futures = [pool.submit(_participant, shared, rng) for rng in rngs]
            try:
                for f in futures:
                    f.result()
            except ConnectionError as exc:
                raise UserError(f"cannot reach the study server at {base}: {exc}") from None

    if url is None:
        with local_server({"DATABASE_URL": database_url} if database_url else None) as base:
            run(base)
    else:
        run(url.rstrip("/"))
    return result
