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
"""

from __future__ import annotations

import math
import random
import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import aliased
from werkzeug.serving import WSGIRequestHandler, make_server

from db.engine import get_engine, session_scope
from db.models import Asset, DesignCell, Method, Study
from study_server.client import ApiClient
from stylestudy.errors import UserError

__all__ = ["SimulationResult", "choice_probabilities", "local_server", "simulate"]


@dataclass
class SimulationResult:
    participants: int = 0
    completed: int = 0
    responses: int = 0
    outcomes: Counter = field(default_factory=Counter)
    refused: Counter = field(default_factory=Counter)
    codes: list[str] = field(default_factory=list)


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:  # the app logs requests itself
        pass


@contextmanager
def local_server(config: dict[str, Any] | None = None):
    """The real app on an ephemeral loopback port in a thread; yields its base URL."""
    from study_server.app import create_app

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
                ) -> tuple[dict, dict[tuple[str, frozenset], dict[str, str | None]]]:
    """(study spec, (reference token, {option tokens}) → {option token: method label}).

    Keyed by the whole cell because one image can be a method's option in one cell and a
    catch distractor (no method) in another.
    """
    with session_scope(get_engine(database_url)) as s:
        study = s.scalar(select(Study).where(Study.slug == slug))
        if study is None:
            raise UserError(f"no study {slug!r}")
        r, a, b = aliased(Asset), aliased(Asset), aliased(Asset)
        ma, mb = aliased(Method), aliased(Method)
        rows = s.execute(select(r.token, a.token, ma.label, b.token, mb.label)
                         .select_from(DesignCell)
                         .join(r, r.id == DesignCell.reference_asset_id)
                         .join(a, a.id == DesignCell.a_asset_id)
                         .join(b, b.id == DesignCell.b_asset_id)
                         .outerjoin(ma, ma.id == DesignCell.method_a_id)
                         .outerjoin(mb, mb.id == DesignCell.method_b_id)
                         .where(DesignCell.study_id == study.id)).all()
        spec = study.spec
    return spec, {(rt, frozenset((at, bt))): {at: al, bt: bl} for rt, at, al, bt, bl in rows}


def entry_params(spec: dict, rng: random.Random) -> dict[str, str]:
    """Entry query parameters a platform would append, with fresh random IDs; in a study
    with cohorts, the link of a cohort drawn uniformly."""
    def rid(prefix: str) -> str:
        return f"{prefix}{rng.getrandbits(64):016x}"

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


def _participant(base_url: str, slug: str, spec: dict, labels: dict,
                 strengths: dict[str, dict[str, float]], noise: float, lapse: float,
                 catch_gap: float, tau: float,
                 rng: random.Random, result: SimulationResult, lock: threading.Lock) -> None:
    client = ApiClient(base_url)
    floor = {q: min(v.values(), default=0.0) - catch_gap for q, v in strengths.items()}
    try:
        status, body = client.request("POST", f"/api/studies/{slug}/sessions",
                                      {"consent": True, "params": entry_params(spec, rng),
                                       "viewport": {"width": 1920, "height": 1080}},
                                      retries=0)
        if status != 201:
            with lock:
                result.refused[body.get("error", str(status))] += 1
            return
        client.token = body["token"]
        status, state = client.request("GET", "/api/session")
        stored = 0
        for t in state["trials"]:
            if t["answered"]:
                continue
            left, right = t["left"][3:], t["right"][3:]
            cell = labels[(t["reference"][3:], frozenset((left, right)))]
            q = t["question"]
            sl, sr = (strengths[q][cell[u]] if cell[u] else floor[q] for u in (left, right))
            pl, pn = (0.5, 0.0) if rng.random() < lapse else choice_probabilities(
                sl, sr, noise, tau if state.get("allow_not_sure") else 0.0)
            u = rng.random()
            choice = "left" if u < pl else "not_sure" if u < pl + pn else "right"
            status, out = client.request("POST", "/api/responses", {
                "response_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "trial": t["id"], "choice": choice, "rt_ms": round(rng.uniform(600, 2500))})
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
            out = {"completion": state.get("completion")} if state.get("completion") else out
        with lock:
            result.responses += stored
            comp = out.get("completion")
            if comp:
                result.completed += comp["outcome"] == "completed"
                result.outcomes[comp["outcome"]] += 1
                result.codes.append(comp["code"])
            else:
                result.refused[out.get("error", str(status))] += 1
    finally:
        client.close()
        with lock:
            result.participants += 1


def simulate(slug: str, participants: int, *,
             strengths: dict[str, float] | dict[str, dict[str, float]] | None = None,
             noise: float = 1.0, seed: int = 0, url: str | None = None,
             concurrency: int = 4, lapse: float = 0.0, catch_gap: float = 3.0,
             not_sure_below: float = 0.0, database_url: str | None = None
             ) -> SimulationResult:
    """Run ``participants`` simulated participants through study ``slug``.

    ``url=None`` starts the real app on an ephemeral loopback port (a thread) and stops it
    afterwards; otherwise the server at ``url`` is used (it must use the same database).
    ``strengths`` maps method labels to strengths for both questions, or question
    (``content``/``style``) to such a mapping. Methods missing from it have strength 0.
    """
    if participants < 1:
        raise UserError("participants must be at least 1")
    if noise < 0 or not 0 <= lapse <= 1 or not_sure_below < 0:
        raise UserError("noise and not_sure_below must be >= 0 and lapse in [0, 1]")
    spec, labels = cell_labels(slug, database_url)
    known = {lab for cell in labels.values() for lab in cell.values() if lab}
    given = strengths or {}
    per_q = ({q: given.get(q) or {} for q in ("content", "style")}
             if given and all(isinstance(v, dict) for v in given.values())
             and set(given) <= {"content", "style"} else {"content": given, "style": given})
    unknown = set().union(*per_q.values()) - known
    if unknown:
        raise UserError(f"unknown method label(s) in strengths: {', '.join(sorted(unknown))}")
    table = {q: {lab: float(v.get(lab, 0.0)) for lab in known} for q, v in per_q.items()}
    result = SimulationResult()
    lock = threading.Lock()
    rngs = [random.Random(f"{seed}:{i}") for i in range(participants)]

    def run(base: str) -> None:
        with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
            futures = [pool.submit(_participant, base, slug, spec, labels, table, noise,
                                   lapse, catch_gap, not_sure_below, rng, result, lock)
                       for rng in rngs]
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
