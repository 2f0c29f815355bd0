"""Power and sample size for 2AFC pairs (docs/analysis.md, "Power").

One pair against 0.5: Cohen's h = 2·asin√p₁ − 2·asin√0.5 and ``NormalIndPower(ratio=0)``
(one sample); the exact two-sided binomial power, which is saw-toothed in n; the design
effect DE = 1 + (m − 1)·ICC with ICC = σ²/(σ² + π²/3) on the logit scale; and a simulation of
the crossed design (worker and item random effects) refitted with the two-way
cluster-robust GLM.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit, logit
from scipy.stats import binom

__all__ = ["design_effect", "design_from_study", "exact_power", "icc_logit", "sample_size",
           "simulate_power"]


def exact_power(n: int, p1: float, alpha: float = 0.05) -> float:
    """Power of the exact two-sided binomial test of 0.5 at level alpha, n trials, truth p1.

    Against p = 0.5 the two-sided p-value of k is min(1, 2·P(X ≤ min(k, n − k))), so the
    test rejects for k ≤ c or k ≥ n − c with c the largest count where 2·P(X ≤ c) ≤ alpha.
    """
    ks = np.arange(n + 1)
    pval = np.minimum(1.0, 2 * binom.cdf(np.minimum(ks, n - ks), n, 0.5))
    reject = pval <= alpha
    return float(binom.pmf(ks[reject], n, p1).sum())


def sample_size(p1: float, alpha: float = 0.05, power: float = 0.8,
                n_max: int = 100_000) -> dict[str, float]:
    """h, the normal-approximation n, the first n with exact power ≥ target, and the n above
    which exact power stays ≥ target (searched up to 2 × the first n + 50)."""
    from statsmodels.stats.power import NormalIndPower
    from statsmodels.stats.proportion import proportion_effectsize

    if not 0 < p1 < 1 or p1 == 0.5:
        raise ValueError("p1 must lie in (0, 1) and differ from 0.5")
    h = float(proportion_effectsize(p1, 0.5))
    n_norm = float(NormalIndPower().solve_power(effect_size=h, alpha=alpha, power=power,
                                                ratio=0))
    first = None
    for n in range(1, n_max + 1):
        if exact_power(n, p1, alpha) >= power:
            first = n
            break
    if first is None:
        return {"p1": p1, "h": h, "n_normal": n_norm, "n_exact_first": np.nan,
                "n_exact_stable": np.nan}
    horizon = 2 * first + 50
    ok = np.array([exact_power(n, p1, alpha) >= power for n in range(first, horizon + 1)])
    stable = first + int(np.flatnonzero(~ok).max() + 1) if (~ok).any() else first
    return {"p1": p1, "h": h, "n_normal": n_norm, "n_exact_first": first,
            "n_exact_stable": stable}


def icc_logit(sd: float) -> float:
    """Intraclass correlation on the logit scale: σ²/(σ² + π²/3)."""
    return sd * sd / (sd * sd + np.pi ** 2 / 3)


def design_effect(m: float, icc: float) -> float:
    """Kish's design effect 1 + (m − 1)·ICC for clusters of m trials."""
    return 1 + (m - 1) * icc


def simulate_power(p1: float, workers: int, trials_per_worker: int, items: int,
                   sd_worker: float = 0.5, sd_item: float = 0.5, alpha: float = 0.05,
                   sims: int = 200, seed: int = 0, progress: bool = False) -> dict[str, float]:
    """Share of simulated crossed studies in which the two-way clustered test rejects 0.5.

    Each worker judges ``trials_per_worker`` trials of the pair on random items with
    P(A) = logistic(logit(p1) + u_worker + v_item); sides are balanced at random, no bias.
    The naive exact-binomial rejection rate is reported beside it.
    """
    from stylestudy.analysis.clustered import cluster_glm
    from stylestudy.analysis.pairs import binom_p

    rng = np.random.default_rng(seed)
    n = workers * trials_per_worker
    w = np.repeat(np.arange(workers), trials_per_worker)
    hits = naive = done = 0
    it = range(sims)
    if progress:
        from tqdm import tqdm

        it = tqdm(it, desc="simulations", unit="sim", leave=False)
    for _ in it:
        u = rng.normal(0, sd_worker, workers)
        v = rng.normal(0, sd_item, items)
        item = rng.integers(0, items, n)
        y = (rng.random(n) < expit(logit(p1) + u[w] + v[item])).astype(float)
        side = rng.choice([-1.0, 1.0], n)
        res = cluster_glm(pd.DataFrame({"y": y, "side": side, "worker": w, "item": item}))
        naive += binom_p(int(y.sum()), n) <= alpha
        p = float(res["p_cluster"])
        if np.isfinite(p):
            done += 1
            hits += p <= alpha
    return {"power_clustered": hits / done if done else np.nan, "power_naive": naive / sims,
            "sims": done, "judgments": n}


def design_from_study(slug: str) -> dict[str, int]:
    """The crossed design of study ``slug`` for one method pair of one question.

    From its real design cells: items, method pairs and target judgments per pair; from its
    spec: ``trials_per_session``. Workers = all targets / trials per session; a worker's
    trials of one pair = trials per session / (pairs × questions), at least 1.
    """
    from sqlalchemy import func, select

    from stylestudy.db.engine import session_scope
    from stylestudy.db.models import DesignCell, Study
    from stylestudy.errors import UserError

    with session_scope() as s:
        study = s.scalar(select(Study).where(Study.slug == slug))
        if study is None:
            raise UserError(f"no study named {slug!r}")
        real = (DesignCell.study_id == study.id, DesignCell.kind == "real")
        cells = s.execute(select(
            func.count(), func.sum(DesignCell.target),
            func.count(func.distinct(DesignCell.question))).where(*real)).one()
        pairs = s.execute(select(DesignCell.method_a_id, DesignCell.method_b_id)
                          .where(*real).distinct()).all()
        items = s.execute(select(DesignCell.content_asset_id, DesignCell.style_asset_id)
                          .where(*real).distinct()).all()
        per_session = int((study.spec or {}).get("trials_per_session", 20))
    n_cells, total, questions = cells
    if not n_cells:
        raise UserError(f"study {slug!r} has no design cells")
    n_pairs = len({tuple(sorted(p)) for p in pairs})
    workers = max(2, round(int(total) / per_session))
    return {"workers": workers, "items": len(items), "pairs": n_pairs,
            "questions": int(questions), "judgments_per_pair": int(total) // (n_pairs * questions),
            "trials_per_worker": max(1, round(per_session / (n_pairs * questions)))}
