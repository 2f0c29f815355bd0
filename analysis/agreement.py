"""Inter-rater agreement and reliability (docs/analysis.md, "Agreement and reliability").

Units are unique comparisons (question, item, method pair); the category is the chosen
method identity, never left/right. Krippendorff α (nominal; the package default is
'interval') is primary and handles missing ratings; Fleiss κ (statsmodels) needs the same
number of raters per unit; raw pairwise agreement is reported beside them (kappa paradox).
Split-half reliability of the JOD vector: random halves of the workers, Spearman ρ between
the halves' JODs, Spearman–Brown 2ρ/(1 + ρ).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

__all__ = ["agreement", "fleiss", "krippendorff_alpha", "raw_agreement", "split_half"]


def krippendorff_alpha(reliability: np.ndarray) -> float:
    """Krippendorff α, nominal, from a raters × units array (NaN = missing)."""
    import krippendorff

    with np.errstate(invalid="ignore", divide="ignore"):  # no disagreement possible: NaN
        return float(krippendorff.alpha(reliability_data=reliability,
                                        level_of_measurement="nominal"))


def fleiss(units: np.ndarray, method: str = "fleiss") -> float:
    """Fleiss (or Randolph) κ from a units × raters array of category codes."""
    from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

    table, _ = aggregate_raters(np.asarray(units))
    return float(fleiss_kappa(table, method=method))


def raw_agreement(counts: np.ndarray) -> float:
    """Mean over units (≥ 2 ratings) of the share of agreeing rater pairs.

    ``counts``: units × categories; a unit's share is Σ_c n_c(n_c − 1) / (n(n − 1)).
    """
    counts = np.asarray(counts, float)
    n = counts.sum(axis=1)
    ok = n >= 2
    share = (counts[ok] * (counts[ok] - 1)).sum(axis=1) / (n[ok] * (n[ok] - 1))
    return float(share.mean()) if ok.any() else float("nan")


def agreement(real: pd.DataFrame) -> dict[str, float]:
    """α, κ (NaN unless raters per unit are equal), raw agreement, units and ratings."""
    unit = real["question"].astype(str) + "|" + real["item_id"].astype(str) + "|" + [
        " vs ".join(sorted(p)) for p in zip(real["method_A"], real["method_B"], strict=True)]
    cat = pd.factorize(real["chosen_method"])[0].astype(float)
    workers = pd.factorize(real["worker_id"])[0]
    units = pd.factorize(unit)[0]
    rel = np.full((workers.max() + 1, units.max() + 1), np.nan)
    rel[workers, units] = cat
    per_unit = np.bincount(units)
    counts = np.zeros((units.max() + 1, int(cat.max()) + 1))
    np.add.at(counts, (units, cat.astype(int)), 1)
    multi = per_unit >= 2
    out = {"units": int(multi.sum()), "ratings": int(per_unit[multi].sum()),
           "krippendorff_alpha": np.nan, "fleiss_kappa": np.nan,
           "raw_agreement": raw_agreement(counts)}
    # α pairs ratings of different workers: units with two or more of them (a worker who
    # rated a unit twice keeps one rating here)
    kept = rel[:, np.isfinite(rel).sum(axis=0) >= 2]
    if kept.shape[1] >= 1 and np.unique(kept[np.isfinite(kept)]).size >= 2:
        out["krippendorff_alpha"] = krippendorff_alpha(kept)
    if (len(per_unit) >= 2 and np.unique(per_unit).size == 1 and per_unit[0] >= 2
            and np.unique(cat).size >= 2):
        order = np.argsort(units, kind="stable")
        out["fleiss_kappa"] = fleiss(cat[order].reshape(-1, per_unit[0]).astype(int))
    return out


def split_half(real: pd.DataFrame, conditions: list[str], repeats: int = 1000,
               seed: int = 0) -> dict[str, float | str]:
    """Split-half reliability of the JOD vector: mean Spearman–Brown over random splits.

    Splits where either half's comparison graph is disconnected are skipped (counted);
    ``reason`` says why there is no value.
    """
    from stylestudy.analysis.jod import is_connected, observer_matrices, scale

    _, MM = observer_matrices(real, conditions)
    n = MM.shape[0]
    rng = np.random.default_rng(seed)
    found: list[float] = []
    skipped = 0
    if n < 4 or len(conditions) < 3:
        return {"split_half": np.nan, "split_half_rho": np.nan, "splits": 0, "skipped": 0,
                "reason": "split-half needs >= 4 workers and >= 3 conditions"}
    for _ in range(repeats):
        perm = rng.permutation(n)
        a, b = MM[perm[: n // 2]].sum(axis=0), MM[perm[n // 2:]].sum(axis=0)
        if not (is_connected(a) and is_connected(b)):
            skipped += 1
            continue
        with warnings.catch_warnings():  # a constant half has no rank correlation: NaN
            warnings.simplefilter("ignore")
            rho = spearmanr(scale(a, check=False), scale(b, check=False)).statistic
        if np.isfinite(rho):
            found.append(rho)
    if not found:
        return {"split_half": np.nan, "split_half_rho": np.nan, "splits": 0,
                "skipped": skipped, "reason": "no split with two connected halves and "
                                              "varying scales"}
    rhos = np.asarray(found)
    ok = rhos[rhos > -1]  # ρ = −1 has no Spearman–Brown value
    if not ok.size:
        return {"split_half": np.nan, "split_half_rho": float(rhos.mean()),
                "splits": len(rhos), "skipped": skipped,
                "reason": "every split gave opposite scales (rho = -1)"}
    return {"split_half": float(np.mean(2 * ok / (1 + ok))), "split_half_rho": float(rhos.mean()),
            "splits": len(rhos), "skipped": skipped, "reason": ""}
