"""Per-pair statistics (docs/analysis.md, "Per pair"): rates, intervals, exact tests, corrections.

Intervals: Wilson (primary) and Clopper–Pearson through
``statsmodels.stats.proportion.proportion_confint`` with the method always explicit (its
default is Wald). Exact test: ``scipy.stats.binomtest(k, n, 0.5, 'two-sided')``.
Corrections: Holm and Benjamini–Hochberg (:func:`adjust`, equal to statsmodels'
``multipletests(..., method='holm' | 'fdr_bh')``); never its default Holm–Šidák.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import binomtest
from statsmodels.stats.proportion import proportion_confint

from stylestudy.analysis.data import real_trials
from stylestudy.analysis.validity import side_separation

__all__ = [
    "adjust",
    "binom_p",
    "canonical_pairs",
    "interval",
    "pair_table",
    "position_bias",
]

INTERVAL_METHODS = {"wilson": "wilson", "clopper_pearson": "beta", "jeffreys": "jeffreys",
                    "agresti_coull": "agresti_coull", "wald": "normal"}


def interval(k: int, n: int, method: str = "wilson", alpha: float = 0.05) -> tuple[float, float]:
    """Two-sided (1 − alpha) interval for a binomial proportion k/n."""
    lo, hi = proportion_confint(k, n, alpha=alpha, method=INTERVAL_METHODS[method])
    # Wilson's bounds at k = 0 or n are exactly 0 or 1; the formula leaves 2.8e-17
    lo, hi = (float(np.clip(np.round(v, 14), 0.0, 1.0)) for v in (lo, hi))
    return lo, hi


def binom_p(k: int, n: int) -> float:
    """Exact two-sided binomial p-value against 0.5."""
    return float(binomtest(int(k), int(n), 0.5, alternative="two-sided").pvalue)


def adjust(pvals, method: str) -> np.ndarray:
    """Holm (``'holm'``) or Benjamini–Hochberg (``'fdr_bh'``) adjusted p-values.

    With p₍₁₎ ≤ … ≤ p₍ₘ₎: Holm (1979) p̃₍ᵢ₎ = max_{j ≤ i} min(1, (m − j + 1)·p₍ⱼ₎);
    Benjamini & Hochberg (1995) p̃₍ᵢ₎ = min_{j ≥ i} min(1, m·p₍ⱼ₎/j). The same numbers as
    statsmodels' ``multipletests`` (tested), whose Holm branch runs a full garbage
    collection on every call.
    """
    if method not in ("holm", "fdr_bh"):
        raise ValueError(f"correction must be 'holm' or 'fdr_bh', got {method!r}")
    p = np.asarray(pvals, dtype=float)
    m = p.size
    if m == 0:
        return p
    order = np.argsort(p, kind="stable")
    ps = p[order]
    rank = np.arange(1, m + 1)
    if method == "holm":
        adj = np.maximum.accumulate(np.minimum(1.0, (m - rank + 1) * ps))
    else:
        adj = np.minimum.accumulate(np.minimum(1.0, m * ps / rank)[::-1])[::-1]
    out = np.empty(m)
    out[order] = adj
    return out


def canonical_pairs(df: pd.DataFrame, focal: str | None = None) -> pd.DataFrame:
    """Orient every row so that (method_A, method_B) is one fixed order per unordered pair.

    The focal method (the user's own) is always A; otherwise A is the name that sorts first.
    ``chose_A`` and ``left_is_A`` follow the orientation.
    """
    a, b = df["method_A"].astype(str), df["method_B"].astype(str)
    swap = (b < a)
    if focal is not None:
        swap = np.where(b == focal, True, np.where(a == focal, False, swap))
    swap = pd.Series(np.asarray(swap, dtype=bool), index=df.index)
    out = df.copy()
    out["method_A"] = a.where(~swap, b)
    out["method_B"] = b.where(~swap, a)
    out["chose_A"] = df["chose_A"].astype(bool) ^ swap
    left = df["left_method"]
    out["left_is_A"] = (left == out["method_A"]).where(left.notna())
    return out


def position_bias(df: pd.DataFrame) -> dict[str, float]:
    """Fraction of real trials in which the left option was chosen, its Wilson CI and exact p."""
    real = real_trials(df)
    known = real[real["left_method"].notna()]
    n = len(known)
    if n == 0:
        return {"n": 0, "k_left": 0, "p_left": np.nan, "ci_low": np.nan, "ci_high": np.nan,
                "p_value": np.nan}
    k = int((known["chosen_method"] == known["left_method"]).sum())
    lo, hi = interval(k, n)
    return {"n": n, "k_left": k, "p_left": k / n, "ci_low": lo, "ci_high": hi,
            "p_value": binom_p(k, n)}


def pair_table(df: pd.DataFrame, focal: str | None = None, family: str = "question",
               alpha: float = 0.05) -> pd.DataFrame:
    """One row per (question, method pair) of the real trials.

    Columns: k (A chosen), n, rate, Wilson and Clopper–Pearson bounds, exact two-sided p,
    Holm- and BH-adjusted p over the family (``'question'``: one family per question;
    ``'all'``: all questions together), the pair's left-choice rate, and ``reason``: why
    no logit model exists for the pair (one side always chosen: separation; always or never
    chosen on one side: quasi-separation by position), else empty.
    Holm's family is the focal method against each other method when ``focal`` is given,
    otherwise every pair; BH always covers every pair.
    """
    real = canonical_pairs(real_trials(df), focal)
    rows = []
    for (q, ma, mb), g in real.groupby(["question", "method_A", "method_B"], sort=True):
        k, n = int(g["chose_A"].sum()), len(g)
        wl, wh = interval(k, n, "wilson", alpha)
        cl, ch = interval(k, n, "clopper_pearson", alpha)
        side = g[g["left_is_A"].notna()]
        n_side = len(side)
        k_left = int((side["chose_A"] == side["left_is_A"].astype(bool)).sum())
        side = g["left_is_A"].map({True: 1.0, False: -1.0}).astype(float).fillna(0.0)
        reason = (f"separation: {'A' if k else 'B'} always chosen ({k}/{n})" if k in (0, n)
                  else side_separation(g["chose_A"].to_numpy(float), side.to_numpy()))
        rows.append({
            "question": q, "method_A": ma, "method_B": mb, "k": k, "n": n, "rate": k / n,
            "wilson_low": wl, "wilson_high": wh, "cp_low": cl, "cp_high": ch,
            "p_exact": binom_p(k, n), "workers": g["worker_id"].nunique(),
            "items": g["item_id"].nunique(),
            "left_rate": k_left / n_side if n_side else np.nan, "reason": reason,
        })
    cols = ["question", "method_A", "method_B", "k", "n", "rate", "wilson_low", "wilson_high",
            "cp_low", "cp_high", "p_exact", "p_holm", "p_bh", "workers", "items", "left_rate",
            "reason"]
    table = pd.DataFrame(rows, columns=[c for c in cols if c not in ("p_holm", "p_bh")])
    table["p_holm"] = np.nan
    table["p_bh"] = np.nan
    groups = [table.index] if family == "all" else [
        g.index for _, g in table.groupby("question")]
    for idx in groups:
        holm_idx = idx
        if focal is not None:
            holm_idx = idx[table.loc[idx, "method_A"].eq(focal).to_numpy()]
        table.loc[holm_idx, "p_holm"] = adjust(table.loc[holm_idx, "p_exact"], "holm")
        table.loc[idx, "p_bh"] = adjust(table.loc[idx, "p_exact"], "fdr_bh")
    return table[cols]
