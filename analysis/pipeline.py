"""The full analysis behind a report: per question scaling, inference, agreement, outliers."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from stylestudy.analysis import agreement as agr
from stylestudy.analysis import clustered, jod, validity
from stylestudy.analysis.data import real_trials
from stylestudy.analysis.pairs import canonical_pairs
from stylestudy.analysis.scaling import Component, graph_components, scale_question
from stylestudy.analysis.tradeoff import sweeps
from stylestudy.errors import UserError

if TYPE_CHECKING:
    from stylestudy.analysis.api import Report
    from stylestudy.analysis.settings import Settings

__all__ = ["OUTLIER_THRESHOLD", "run_full", "warnings"]

#: pwcmp README: observers with dist_L above about 1.5 deserve inspection
OUTLIER_THRESHOLD = 1.5


def _dependence(real: pd.DataFrame, settings: Settings, focal: str | None) -> pd.DataFrame:
    rows = []
    oriented = canonical_pairs(real, focal)
    for (a, b), g in oriented.groupby(["method_A", "method_B"], sort=True):
        row = {"method_A": a, "method_B": b}
        row.update(clustered.pair_inference(clustered.pair_frame(g), settings.pair_bootstrap,
                                            settings.seed, settings.alpha))
        rows.append(row)
    return pd.DataFrame(rows)


def _outliers(real: pd.DataFrame, comps: list[Component]
              ) -> tuple[pd.DataFrame, dict[str, float]]:
    """pwcmp's outlier table per component and the JOD without the flagged observers
    (by condition; empty when nobody is flagged or the rest fall apart)."""
    tables: list[pd.DataFrame] = []
    without: dict[str, float] = {}
    for comp in comps:
        sub = real[real["method_A"].isin(comp.conditions)
                   & real["method_B"].isin(comp.conditions)]
        obs, MM = jod.observer_matrices(sub, comp.conditions)
        if len(obs) < 4:
            tables.append(pd.DataFrame({"worker_id": obs, "component": comp.number,
                                        "reason": "fewer than 4 workers: not analysed"}))
            continue
        L, dist = jod.outliers(MM)
        infinite = np.isinf(dist)  # the middle half of the workers agree exactly (IQR 0)
        reason = np.where(np.isfinite(L), "", "the graph needs this worker to stay "
                                              "connected: not scored")
        reason = np.where(infinite, "below the first quartile while the IQR is 0: distance "
                                    "undefined, flagged", reason)
        table = pd.DataFrame({"worker_id": obs, "component": comp.number,
                              "loglik_per_pair": L, "dist_L": np.where(infinite, np.nan, dist),
                              "flagged": dist > OUTLIER_THRESHOLD, "reason": reason})
        tables.append(table)
        keep = ~table["flagged"].to_numpy()
        D = MM[keep].sum(axis=0)
        if not keep.all() and jod.is_connected(D):
            without.update(zip(comp.conditions, jod.scale(D, check=False), strict=True))
    return pd.concat(tables, ignore_index=True), without


def _scenes(real: pd.DataFrame, samples: int, seed: int, alpha: float) -> pd.DataFrame:
    """JOD per scene (item), each connected component of its graph alone."""
    rows = []
    for scene, g in real.groupby("item_id", sort=True):
        conds = sorted(set(g["method_A"]) | set(g["method_B"]))
        comps = graph_components(g, conds)
        for number, names in enumerate(comps, 1):
            sub = g[g["method_A"].isin(names) & g["method_B"].isin(names)]
            _, MM = jod.observer_matrices(sub, names)
            note = (f"component {number} of {len(comps)}: relative to it only"
                    if len(comps) > 1 else "")
            try:
                boot = jod.bootstrap(MM, samples, alpha, seed)
                est, lo, hi = boot.jod, boot.low, boot.high
                if MM.shape[0] < 2 or samples < 2:
                    note = validity.join(note, "one worker: no bootstrap interval")
            except UserError as exc:
                est = jod.scale(MM.sum(axis=0), check=False)
                lo = hi = np.full(len(names), np.nan)
                note = validity.join(note, f"no bootstrap interval: {exc.message}")
            for c, q, low, high in zip(names, est, lo, hi, strict=True):
                low, high, widened = validity.contain(q, low, high)
                rows.append({"scene": scene, "component": number, "condition": c, "jod": q,
                             "jod_low": low, "jod_high": high, "reason": validity.join(
                                 note, "bootstrap interval widened to contain the estimate"
                                 if widened else "")})
    return pd.DataFrame(rows)


#: metric columns scored against each question (docs/analysis.md, "Metric–human agreement")
METRICS_FOR = {"content": ("ssim", "lpips"), "style": ("gram",)}


def _metric_tables(report: Report, metrics: pd.DataFrame, kept: pd.DataFrame,
                   tables: dict) -> None:
    from stylestudy.analysis.metric_agreement import method_level, metric_agreement

    st = report.settings
    scores, paired, level = [], [], []
    for q, real in real_trials(kept).groupby("question", sort=True):
        cols = [c for c in metrics.columns if c.startswith(METRICS_FOR.get(q, ()))]
        if not cols:
            continue
        t, p = metric_agreement(real, metrics, cols, max(2000, st.bootstrap), st.seed,
                                st.alpha)
        if not t.empty:
            scores.append(t.assign(question=q))
            paired.append(p.assign(question=q))
        boot = report.scaling["questions"][q]["bootstrap"]
        if boot is None:  # several components: no common scale to rank methods on
            continue
        lv = method_level(tables[f"jod_{q}"], boot.samples, metrics, cols, st.seed,
                          st.alpha)
        if not lv.empty:
            level.append(lv.assign(question=q))
    if scores:
        tables["metric_agreement"] = pd.concat(scores, ignore_index=True)
        tables["metric_paired"] = pd.concat(paired, ignore_index=True)
    if level:
        tables["metric_method_level"] = pd.concat(level, ignore_index=True)


def _trade_off(content: pd.DataFrame, style: pd.DataFrame,
               conditions: pd.DataFrame | None) -> pd.DataFrame:
    """JOD content against JOD style per condition, with both questions' reasons, and each
    condition's method, knob, setting and place on its method's curve (from ``conditions``,
    the generation parameters, where known)."""
    cols = ["condition", "jod", "jod_low", "jod_high", "reason"]
    t = content[cols].merge(style[cols], on="condition", suffixes=("_content", "_style"))
    t["reason"] = [validity.join(f"content: {a}" if a else "", f"style: {b}" if b else "")
                   for a, b in zip(t.pop("reason_content"), t.pop("reason_style"), strict=True)]
    t = t.merge(sweeps(list(t["condition"]), conditions), on="condition")
    return t.sort_values(["method", "order"], ignore_index=True)


def run_full(report: Report, kept: pd.DataFrame, progress: bool = False) -> None:
    """Fill ``report.scaling`` with tables (by name) and summary values per question."""
    st = report.settings
    tables = report.scaling.setdefault("tables", {})
    summary = report.scaling.setdefault("questions", {})
    all_real = real_trials(report.judgments)
    agreement_rows = []
    for q, real in real_trials(kept).groupby("question", sort=True):
        conditions = sorted(set(real["method_A"]) | set(real["method_B"]))
        scale, diffs, comps = scale_question(real, conditions, st.bootstrap, st.seed,
                                             st.alpha, progress)
        unexcluded = all_real[all_real["question"] == q]
        conds_all = sorted(set(unexcluded["method_A"]) | set(unexcluded["method_B"]))
        without: dict[str, float] = {}
        for names in graph_components(unexcluded, conds_all):
            sub = unexcluded[unexcluded["method_A"].isin(names)]
            without.update(zip(names, jod.scale(jod.count_matrix(sub, names), check=False),
                               strict=True))
        reason = scale.pop("reason")
        scale["jod_without_exclusions"] = scale["condition"].map(without)
        out_table, out_jod = _outliers(real, comps)
        if out_jod:
            scale["jod_without_outliers"] = scale["condition"].map(out_jod)
        scale["reason"] = reason
        tables[f"jod_{q}"] = scale
        tables[f"jod_differences_{q}"] = diffs
        tables[f"outliers_{q}"] = out_table
        tables[f"dependence_{q}"] = _dependence(real, st, st.focal_method)
        tables[f"scenes_{q}"] = _scenes(real, st.bootstrap, st.seed, st.alpha)
        a: dict[str, float | str] = {**agr.agreement(real),
                                     **agr.split_half(real, conditions, st.bootstrap, st.seed)}
        a["question"] = q
        agreement_rows.append(a)
        summary[q] = {"conditions": conditions, "components": comps,
                      "bootstrap": comps[0].boot if len(comps) == 1 else None}
    if agreement_rows:
        cols = ["question", "units", "ratings", "krippendorff_alpha", "fleiss_kappa",
                "raw_agreement", "split_half", "split_half_rho", "splits", "skipped",
                "reason"]
        tables["agreement"] = pd.DataFrame(agreement_rows)[cols]
    if report.metrics is not None:
        _metric_tables(report, report.metrics, kept, tables)
    if {"content", "style"} <= set(summary):
        tables["trade_off"] = _trade_off(tables["jod_content"], tables["jod_style"],
                                         report.conditions)
    report.scaling["warnings"] = warnings(report.pairs, tables)


def warnings(pairs: pd.DataFrame, tables: dict[str, pd.DataFrame]) -> list[str]:
    """What a reader must know before trusting the tables, per question."""
    out = []
    for q, g in pairs.groupby("question", sort=True):
        whole = g[(g["k"] == 0) | (g["k"] == g["n"])]
        if len(whole):
            out.append(f"{q}: in {len(whole)} of {len(g)} pairs one side was always chosen "
                       "(separation); their dependence-aware rows use exact methods")
        scale = tables.get(f"jod_{q}")
        if scale is None:
            continue
        if scale["component"].nunique() > 1:
            out.append(f"{q}: the comparison graph has {scale['component'].nunique()} "
                       "components; JOD is given per component and differences across them "
                       "are undefined")
        bound = scale.loc[scale["reason"].str.contains("separated from"), "condition"]
        if len(bound):
            out.append(f"{q}: the JOD distances of {', '.join(bound)} rest on pairs whose "
                       "judgments all went one way: they are set by the separation prior "
                       f"(SD {jod.SEPARATION_SD:.2f} JOD), not measured; their intervals "
                       "are marked")
        dep = tables.get(f"dependence_{q}")
        if dep is not None and len(dep):
            fallback = dep["method"].str.startswith("sign-flip").sum()
            if fallback:
                out.append(f"{q}: {fallback} of {len(dep)} pairs could not use the "
                           "cluster-robust GLM (reason column); they use the sign-flip test "
                           "over workers")
    return out
