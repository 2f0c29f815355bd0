"""Synthetic crossed 2AFC studies with known truth, for tests, power and benchmarks.

Choice model: P(choose A) = Φ((q_A − q_B)/1.4826 + u_worker + v_item + β·side), side = ±1
(A on the left / right), so with no random effects the true JOD scale is ``q``
(Thurstone Case V with pwcmp's σ, docs/analysis.md, "JOD scale").
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd
from scipy.stats import norm

from stylestudy.analysis.data import validate

__all__ = ["simulate_study"]

SIGMA = 1.4826


def simulate_study(
    jod: dict[str, float],
    n_workers: int = 30,
    n_items: int = 6,
    trials_per_worker: int = 20,
    question: str | tuple[str, ...] = "content",
    worker_sd: float = 0.0,
    item_sd: float = 0.0,
    position_bias: float = 0.0,
    catch_per_worker: int = 0,
    bad_workers: int = 0,
    repeats_per_worker: int = 0,
    rt_ms: float = 2000.0,
    seed: int = 0,
) -> pd.DataFrame:
    """A validated long table: every worker judges random (pair, item) cells.

    ``worker_sd`` and ``item_sd`` are probit-scale SDs of additive random effects;
    ``bad_workers`` answer at random, fail catch trials half the time and answer fast.
    """
    rng = np.random.default_rng(seed)
    names = list(jod)
    pairs = list(combinations(names, 2))
    questions = (question,) if isinstance(question, str) else tuple(question)
    items = [f"c{i % 3}-s{i // 3}" for i in range(n_items)]
    u = rng.normal(0, worker_sd, n_workers)
    v = rng.normal(0, item_sd, n_items)
    rows = []
    tid = 0
    for w in range(n_workers):
        bad = w < bad_workers
        # (question, method A, method B, item, A on the left, chose A, kind); a catch
        # trial has no methods ("")
        real: list[tuple[str, str, str, int, bool, bool, str]] = []
        for _ in range(trials_per_worker):
            q = questions[rng.integers(len(questions))]
            a, b = pairs[rng.integers(len(pairs))]
            if rng.random() < 0.5:
                a, b = b, a
            it = int(rng.integers(n_items))
            left_a = bool(rng.random() < 0.5)
            side = 1.0 if left_a else -1.0
            z = (jod[a] - jod[b]) / SIGMA + u[w] + v[it] + position_bias * side
            p = 0.5 if bad else norm.cdf(z)
            real.append((q, a, b, it, left_a, bool(rng.random() < p), "real"))
        for k in range(min(repeats_per_worker, len(real))):
            q, a, b, it, left_a, chose, _ = real[k]
            side = -1.0 if left_a else 1.0
            z = (jod[a] - jod[b]) / SIGMA + u[w] + v[it] + position_bias * side
            p = 0.5 if bad else norm.cdf(z)
            real.append((q, a, b, it, not left_a, bool(rng.random() < p), "repeat"))
        for _ in range(catch_per_worker):
            ok = rng.random() < (0.5 if bad else 0.97)
            real.append((questions[0], "", "", int(rng.integers(n_items)), True, ok,
                         "catch"))
        for q, a, b, it, left_a, chose, kind in real:
            tid += 1
            content, style = items[it].split("-")
            rows.append({
                "worker_id": f"w{w:03d}", "session_id": f"s{w:03d}", "trial_id": f"t{tid}",
                "item_id": items[it], "content_id": content, "style_id": style,
                "question": q, "method_A": a or None, "method_B": b or None,
                "left_method": (a if left_a else b) if a else None, "chose_A": chose,
                "rt_ms": float(rng.lognormal(np.log(250 if bad else rt_ms), 0.3)),
                "trial_kind": kind, "expected": "a" if kind == "catch" else None,
                "timestamp": None, "session_state": "completed",
            })
    return validate(pd.DataFrame(rows))
