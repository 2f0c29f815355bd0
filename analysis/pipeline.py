"""The full analysis behind a report: per question scaling, inference, agreement, outliers."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from analysis import agreement as agr
from analysis import clustered, jod
from analysis.bt import bradley_terry, bt_to_jod
from analysis.data import real_trials
from analysis.pairs import adjust, canonical_pairs
from stylestudy.errors import UserError

if TYPE_CHECKING:
    from analysis.api import Report
    from analysis.settings import Settings

__all__ = ["OUTLIER_THRESHOLD", "run_full", "scale_question"]

#: pwcmp README: observers with dist_L above about 1.5 deserve inspection
OUTLIER_THRESHOLD = 1.5


def scale_question(real: pd.DataFrame, conditions: list[str], samples: int, seed: int,
                   alpha: float = 0.05, progress: bool = False
                   ) -> tuple[pd.DataFrame, pd.DataFrame, jod.BootstrapResult]:
    """JOD with bootstrap CIs and BT per condition; JOD differences with two-sided p (Holm)."""
    _, MM = jod.observer_matrices(real, conditions)
    boot = jod.bootstrap(MM, samples, alpha, seed, names=conditions, progress=progress)
    theta = bradley_terry(MM.sum(axis=0))
    scale = pd.DataFrame({"condition": conditions, "jod": boot.jod, "jod_low": boot.low,
                          "jod_high": boot.high, "bt_theta": theta, "bt_jod": bt_to_jod(theta)})
    if samples >= 2 and real["worker_id"].nunique() > 1 and real["item_id"].nunique() > 1:
        try:
            lo, hi = jod.crossed_bootstrap(real, conditions, samples, alpha, seed, boot.jod)
        except UserError:  # too sparse to resample items as well: observer intervals only
            lo = hi = np.full(len(conditions), np.nan)
        scale.insert(4, "jod_crossed_low", lo)
        scale.insert(5, "jod_crossed_high", hi)
    p, dq = jod.significance(boot.jod, boot.cov)
    iu = np.triu_indices(len(conditions), 1)
    diffs = pd.DataFrame({
        "condition_A": np.asarray(conditions)[iu[0]], "condition_B": np.asarray(conditions)[iu[1]],
        "jod_diff": dq[iu], "se": np.sqrt(np.maximum(
            np.diag(boot.cov)[iu[0]] + np.diag(boot.cov)[iu[1]] - 2 * boot.cov[iu], 0)),
        "p_two_sided": p[iu], "p_pwcmp_one_sided": p[iu] / 2})
    diffs["p_holm"] = adjust(diffs["p_two_sided"].fillna(1.0), "holm")
    return scale, diffs, boot


def _dependence(real: pd.DataFrame, settings: Settings, focal: str | None) -> pd.DataFrame:
    rows = []
    oriented = canonical_pairs(real, focal)
    for (a, b), g in oriented.groupby(["method_A", "method_B"], sort=True):
        d = clustered.pair_frame(g)
        k, n = int(d["y"].sum()), len(d)
        row = {"method_A": a, "method_B": b, "k": k, "n": n, "rate": k / n}
        row.update(clustered.cluster_glm(d))
        row["se_ratio"] = row["se_cluster"] / row["se_naive"]
        lo, hi = clustered.crossed_bootstrap(d, max(2000, settings.bootstrap), settings.seed,
                                             settings.alpha)
        row.update(crossed_low=lo, crossed_high=hi)
        row.update(clustered.variance_components(d))
        rows.append(row)
    return pd.DataFrame(rows)


def _outliers(real: pd.DataFrame, conditions: list[str]
              ) -> tuple[pd.DataFrame, np.ndarray | None]:
    """pwcmp's outlier table and the JOD without the flagged observers (None if none)."""
    obs, MM = jod.observer_matrices(real, conditions)
    if len(obs) < 4:
        return pd.DataFrame({"worker_id": obs}), None
    L, dist = jod.outliers(MM)
    table = pd.DataFrame({"worker_id": obs, "loglik_per_pair": L, "dist_L": dist,
                          "flagged": dist > OUTLIER_THRESHOLD})
    keep = ~table["flagged"].to_numpy()
    D = MM[keep].sum(axis=0)
    if keep.all() or not jod.is_connected(D):
        return table, None
    return table, jod.scale(D, check=False)


def _scenes(real: pd.DataFrame, conditions: list[str], samples: int, seed: int,
            alpha: float) -> pd.DataFrame:
    rows = []
    for scene, g in real.groupby("item_id", sort=True):
        conds = sorted(set(g["method_A"]) | set(g["method_B"]))
        _, MM = jod.observer_matrices(g, conds)
        if len(conds) < 2 or len(jod.components(MM.sum(axis=0))) > 1:
            rows += [{"scene": scene, "condition": c, "jod": np.nan, "jod_low": np.nan,
                      "jod_high": np.nan, "note": "disconnected: not scaled"} for c in conds]
            continue
        boot = jod.bootstrap(MM, samples, alpha, seed)
        rows += [{"scene": scene, "condition": c, "jod": q, "jod_low": lo, "jod_high": hi,
                  "note": ""} for c, q, lo, hi in zip(conds, boot.jod, boot.low, boot.high,
                                                     strict=True)]
    return pd.DataFrame(rows)


#: metric columns scored against each question (analysis.md §8)
METRICS_FOR = {"content": ("ssim", "lpips"), "style": ("gram",)}


def _metric_tables(report: Report, kept: pd.DataFrame, tables: dict) -> None:
    from analysis.metric_agreement import method_level, metric_agreement

    st = report.settings
    scores, paired, level = [], [], []
    for q, real in real_trials(kept).groupby("question", sort=True):
        cols = [c for c in report.metrics.columns if c.startswith(METRICS_FOR[q])]
        if not cols:
            continue
        t, p = metric_agreement(real, report.metrics, cols, max(2000, st.bootstrap), st.seed,
                                st.alpha)
        if not t.empty:
            scores.append(t.assign(question=q))
            paired.append(p.assign(question=q))
        boot = report.scaling["questions"][q]["bootstrap"]
        lv = method_level(tables[f"jod_{q}"], boot.samples, report.metrics, cols, st.seed,
                          st.alpha)
        if not lv.empty:
            level.append(lv.assign(question=q))
    if scores:
        tables["metric_agreement"] = pd.concat(scores, ignore_index=True)
        tables["metric_paired"] = pd.concat(paired, ignore_index=True)
    if level:
        tables["metric_method_level"] = pd.concat(level, ignore_index=True)


def run_full(report: Report, kept: pd.DataFrame, progress: bool = False) -> None:
    """Fill ``report.scaling`` with tables (by name) and summary values per question."""
    st = report.settings
    tables = report.scaling.setdefault("tables", {})
    summary = report.scaling.setdefault("questions", {})
    all_real = real_trials(report.judgments)
    agreement_rows = []
    for q, real in real_trials(kept).groupby("question", sort=True):
        conditions = sorted(set(real["method_A"]) | set(real["method_B"]))
        try:
            scale, diffs, boot = scale_question(real, conditions, st.bootstrap, st.seed,
                                                st.alpha, progress)
        except UserError as exc:
            raise UserError(f"question {q!r}: {exc.message}") from None
        unexcluded = all_real[all_real["question"] == q]
        conds_all = sorted(set(unexcluded["method_A"]) | set(unexcluded["method_B"]))
        D_all = jod.count_matrix(unexcluded, conds_all)
        if len(jod.components(D_all)) == 1:
            q_all = dict(zip(conds_all, jod.scale(D_all), strict=True))
            scale["jod_without_exclusions"] = scale["condition"].map(q_all)
        out_table, out_jod = _outliers(real, conditions)
        if out_jod is not None:
            scale["jod_without_outliers"] = out_jod
        tables[f"jod_{q}"] = scale
        tables[f"jod_differences_{q}"] = diffs
        tables[f"outliers_{q}"] = out_table
        tables[f"dependence_{q}"] = _dependence(real, st, st.focal_method)
        tables[f"scenes_{q}"] = _scenes(real, conditions, st.bootstrap, st.seed, st.alpha)
        a = agr.agreement(real)
        a.update(agr.split_half(real, conditions, st.bootstrap, st.seed))
        a["question"] = q
        agreement_rows.append(a)
        summary[q] = {"conditions": conditions, "bootstrap": boot}
    if agreement_rows:
        cols = ["question", "units", "ratings", "krippendorff_alpha", "fleiss_kappa",
                "raw_agreement", "split_half", "split_half_rho", "splits", "skipped"]
        tables["agreement"] = pd.DataFrame(agreement_rows)[cols]
    if report.metrics is not None:
        _metric_tables(report, kept, tables)
    if {"content", "style"} <= set(summary):
        c, s = tables["jod_content"], tables["jod_style"]
        tables["trade_off"] = c[["condition", "jod", "jod_low", "jod_high"]].merge(
            s[["condition", "jod", "jod_low", "jod_high"]], on="condition",
            suffixes=("_content", "_style"))
