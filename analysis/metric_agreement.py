"""Metric–human agreement (docs/analysis.md, "Metric–human agreement"; BAPPS 2AFC score).

A unit u is a unique comparison (item, method pair) of one question; k_u of n_u people chose
A. The metric picks A when its distance to the content is smaller (LPIPS, Gram) or its
similarity larger (SSIM); a tie counts ½. Per-unit score s_u = k_u/n_u if it picks A,
else (n_u − k_u)/n_u; the 2AFC score is the mean over units (equal weight per comparison,
as BAPPS), the trial-weighted accuracy is reported beside it. Ceilings: the unbiased
human leave-one-out agreement h_u = [k(k−1) + (n−k)(n−k−1)]/[n(n−1)] (units with n ≥ 2)
and the majority oracle max(k, n−k)/n. Uncertainty: a crossed bootstrap over items and
workers; metrics are compared by a paired bootstrap over the same resamples.
Only the content question is scored with SSIM/LPIPS; the style question with Gram.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from stylestudy.analysis import validity

__all__ = ["HIGHER_IS_CLOSER", "method_level", "metric_agreement", "metric_choice"]

_WIDENED = "bootstrap interval widened to contain the estimate"

#: metrics where a larger value means "closer to the reference"
HIGHER_IS_CLOSER = ("ssim",)


def _higher_is_closer(metric: str) -> bool:
    return metric.startswith(HIGHER_IS_CLOSER)


def metric_choice(value_a: np.ndarray, value_b: np.ndarray, metric: str) -> np.ndarray:
    """1 where the metric picks A, 0 where it picks B, 0.5 on a tie."""
    a, b = np.asarray(value_a, float), np.asarray(value_b, float)
    pick_a = a > b if _higher_is_closer(metric) else a < b
    return np.where(a == b, 0.5, pick_a.astype(float))


def _scores(k: np.ndarray, n: np.ndarray, pick: np.ndarray) -> np.ndarray:
    """Mean over units with n > 0 of the per-unit agreement, for each metric column."""
    ok = n > 0
    frac = np.divide(k, n, out=np.zeros_like(k, dtype=float), where=ok)
    s = pick * frac[..., None] + (1 - pick) * (1 - frac[..., None])
    with np.errstate(invalid="ignore", divide="ignore"):
        return (s * ok[..., None]).sum(axis=-2) / ok.sum(axis=-1)[..., None]


def metric_agreement(real: pd.DataFrame, metrics: pd.DataFrame, columns: list[str],
                     samples: int = 2000, seed: int = 0, alpha: float = 0.05
                     ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """2AFC score per metric with crossed-bootstrap CI, ceilings, and paired differences.

    ``real``: real trials of one question; ``metrics``: one row per (item_id, method) with
    the metric ``columns``. Units whose outputs lack a metric value are dropped (counted).
    """
    from stylestudy.analysis.pairs import canonical_pairs

    c = canonical_pairs(real).reset_index(drop=True)
    m = metrics.drop_duplicates(["item_id", "method"]).set_index(["item_id", "method"])
    ia = pd.MultiIndex.from_arrays([c["item_id"], c["method_A"]])
    ib = pd.MultiIndex.from_arrays([c["item_id"], c["method_B"]])
    va = m.reindex(ia)[columns].to_numpy(float)
    vb = m.reindex(ib)[columns].to_numpy(float)
    have = np.isfinite(va).all(axis=1) & np.isfinite(vb).all(axis=1)
    dropped = int((~have).sum())
    c, va, vb = c[have].reset_index(drop=True), va[have], vb[have]
    if c.empty:
        return pd.DataFrame(), pd.DataFrame()
    unit = pd.factorize(c["item_id"].astype(str) + "|" + c["method_A"] + "|" + c["method_B"])[0]
    nu = unit.max() + 1
    first = np.unique(unit, return_index=True)[1]
    pick = np.column_stack([metric_choice(va[first, j], vb[first, j], col)
                            for j, col in enumerate(columns)])          # units × metrics
    y = c["chose_A"].to_numpy(float)
    k = np.bincount(unit, y, nu)
    n = np.bincount(unit, minlength=nu).astype(float)
    score = _scores(k, n, pick)
    trial_acc = (pick[unit] * y[:, None] + (1 - pick[unit]) * (1 - y[:, None])).mean(axis=0)
    multi = n >= 2
    h = (k * (k - 1) + (n - k) * (n - k - 1))[multi] / (n * (n - 1))[multi]
    human = float(h.mean()) if multi.any() else np.nan
    oracle = float((np.maximum(k, n - k) / n).mean())
    # crossed bootstrap: row weight = (worker draws) × (item draws)
    rng = np.random.default_rng(seed)
    w = pd.factorize(c["worker_id"])[0]
    it = pd.factorize(c["item_id"])[0]
    nw, ni = w.max() + 1, it.max() + 1
    boot = np.empty((samples, len(columns)))
    for b in range(samples):
        cw = rng.multinomial(nw, np.full(nw, 1 / nw))
        ci = rng.multinomial(ni, np.full(ni, 1 / ni))
        wt = cw[w] * ci[it]
        boot[b] = _scores(np.bincount(unit, wt * y, nu), np.bincount(unit, wt, nu), pick)
    boot = boot[np.isfinite(boot).all(axis=1)]  # resamples that drew no judgment at all
    lo, hi = np.quantile(boot, [alpha / 2, 1 - alpha / 2], axis=0)
    bounds = [validity.contain(e, a, b) for e, a, b in zip(score, lo, hi, strict=True)]
    table = pd.DataFrame({
        "metric": columns, "score_2afc": score, "ci_low": [b[0] for b in bounds],
        "ci_high": [b[1] for b in bounds],
        "trial_accuracy": trial_acc, "human_ceiling": human, "majority_ceiling": oracle,
        "normalised": (score - 0.5) / (human - 0.5) if human != 0.5 else np.nan,
        "units": nu, "trials": len(c), "trials_without_metric": dropped,
        "reason": [_WIDENED if b[2] else "" for b in bounds]})
    rows = []
    B = len(boot)
    for i in range(len(columns)):
        for j in range(i + 1, len(columns)):
            d = boot[:, i] - boot[:, j]
            diff = score[i] - score[j]
            dl, dh, widened = validity.contain(diff, *np.quantile(d, [alpha / 2, 1 - alpha / 2]))
            # two-sided bootstrap p, never below 2/(B + 1) (Davison & Hinkley 1997, §4.2)
            p = min(1.0, 2 * min(1 + (d <= 0).sum(), 1 + (d >= 0).sum()) / (B + 1))
            rows.append({"metric_1": columns[i], "metric_2": columns[j],
                         "difference": diff, "ci_low": dl, "ci_high": dh,
                         "p_bootstrap": p, "reason": _WIDENED if widened else ""})
    return table, pd.DataFrame(rows)


def method_level(jod: pd.DataFrame, jod_samples: np.ndarray, metrics: pd.DataFrame,
                 columns: list[str], seed: int = 0, alpha: float = 0.05) -> pd.DataFrame:
    """Kendall τ and Spearman ρ between per-method JOD and per-method mean metric.

    The metric is signed so that larger means closer (−LPIPS, −Gram, +SSIM): τ = 1 means the
    metric ranks methods as people do. CI: the JOD bootstrap samples paired with item
    resamples of the metric means. With six methods or fewer the evidence is weak.
    """
    from scipy.stats import kendalltau, spearmanr

    conds = list(jod["condition"])
    m = metrics[metrics["method"].isin(conds)]
    items = sorted(m["item_id"].unique())
    if len(conds) < 3 or not items:
        return pd.DataFrame()
    cube = m.pivot_table(index="item_id", columns="method", values=columns, aggfunc="mean")
    rng = np.random.default_rng(seed)
    rows = []
    for col in columns:
        sign = 1.0 if _higher_is_closer(col) else -1.0
        per_item = cube[col].reindex(columns=conds).to_numpy(float) * sign
        means = np.nanmean(per_item, axis=0)
        with warnings.catch_warnings():  # a constant metric has no rank correlation: NaN
            warnings.simplefilter("ignore")
            tau = kendalltau(jod["jod"], means).statistic
            rho = spearmanr(jod["jod"], means).statistic
        taus = []
        for q in jod_samples:
            pick = per_item[rng.integers(0, len(items), len(items))]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t = kendalltau(q, np.nanmean(pick, axis=0)).statistic
            if np.isfinite(t):
                taus.append(t)
        lo, hi = (np.quantile(taus, [alpha / 2, 1 - alpha / 2]) if taus else (np.nan, np.nan))
        lo, hi, widened = validity.contain(tau, lo, hi)
        rows.append({"metric": col, "methods": len(conds), "kendall_tau": tau,
                     "tau_low": lo, "tau_high": hi, "spearman_rho": rho,
                     "note": validity.join(
                         "weak evidence: 6 methods or fewer" if len(conds) <= 6 else "",
                         _WIDENED if widened else "")})
    return pd.DataFrame(rows)
