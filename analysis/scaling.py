"""JOD and Bradley–Terry for one question, each connected component of the comparison graph
on its own, with every interval and p-value checked (docs/analysis.md, "JOD scale").

A condition's row says in ``reason`` when its numbers are not plain pwcmp output: the
component it belongs to (when there are several), a distance that rests on separated pairs
(set by the separation prior, :data:`stylestudy.analysis.jod.SEPARATION_SD`, and on the BT side by
the penalty α), an interval that could not be drawn or had to be widened. A difference between
two conditions whose distance rests on the separation prior, or whose bootstrap variance
is zero or missing, is tested exactly on their direct judgments instead of by the z-test.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components
from scipy.stats import norm

from stylestudy.analysis import jod, validity
from stylestudy.analysis.bt import ALPHA, bradley_terry, bt_to_jod
from stylestudy.analysis.pairs import adjust, binom_p
from stylestudy.errors import UserError

__all__ = ["Component", "graph_components", "scale_question"]


@dataclass
class Component:
    """One connected component of a question's comparison graph and its bootstrap."""

    number: int
    conditions: list[str]
    boot: jod.BootstrapResult


def graph_components(real: pd.DataFrame, conditions: list[str]) -> list[list[str]]:
    """The connected components' conditions, largest first (ties: by first name)."""
    comps = [[conditions[i] for i in c]
             for c in jod.components(jod.count_matrix(real, conditions))]
    return sorted(comps, key=lambda c: (-len(c), c[0]))


def _interval_reasons(est: np.ndarray, lo: np.ndarray, hi: np.ndarray, what: str
                      ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    lo, hi = lo.astype(float).copy(), hi.astype(float).copy()
    reasons = []
    for i in range(len(est)):
        lo[i], hi[i], widened = validity.contain(est[i], lo[i], hi[i])
        r = ""
        if widened:
            r = f"{what} interval widened to contain the estimate"
        elif np.isfinite(lo[i]) and hi[i] - lo[i] <= 1e-9:
            r = f"{what} interval of zero width (every resample alike)"
        reasons.append(r)
    return lo, hi, reasons


def _strong_labels(D: np.ndarray) -> np.ndarray:
    return connected_components(csr_matrix(D > 0), directed=True, connection="strong")[1]


def scale_question(real: pd.DataFrame, conditions: list[str], samples: int, seed: int,
                   alpha: float = 0.05, progress: bool = False
                   ) -> tuple[pd.DataFrame, pd.DataFrame, list[Component]]:
    """JOD with bootstrap CIs and BT per condition; JOD differences with two-sided p (Holm).

    Each connected component is scaled alone (mean zero within it); differences across
    components are undefined and left empty with the reason.
    """
    comps = graph_components(real, conditions)
    several = len(comps) > 1
    rows, out_comps = [], []
    for number, names in enumerate(comps, 1):
        sub = real[real["method_A"].isin(names) & real["method_B"].isin(names)]
        _, MM = jod.observer_matrices(sub, names)
        D = MM.sum(axis=0)
        reasons: list[list[str]] = [[] for _ in names]
        if several:
            for r in reasons:
                r.append(f"component {number} of {len(comps)} ({', '.join(names)}): JOD "
                         "relative to this component only")
        try:
            boot = jod.bootstrap(MM, samples, alpha, seed, names=names, progress=progress)
        except UserError as exc:
            q = jod.scale(D, check=False)
            nan = np.full(len(names), np.nan)
            boot = jod.BootstrapResult(q, nan, nan.copy(), np.full((len(names),) * 2, np.nan),
                                       np.empty((0, len(names))))
            for r in reasons:
                r.append(f"no bootstrap interval: {exc.message}")
        if samples < 2 or MM.shape[0] < 2:
            for r in reasons:
                r.append("one worker: no bootstrap interval" if samples >= 2
                         else "bootstrap off (B < 2): no interval")
        lo, hi, why = _interval_reasons(boot.jod, boot.low, boot.high, "bootstrap")
        for r, w in zip(reasons, why, strict=True):
            r.append(w)
        table = pd.DataFrame({"condition": names, "component": number, "jod": boot.jod,
                              "jod_low": lo, "jod_high": hi})
        if samples >= 2 and sub["worker_id"].nunique() > 1 and sub["item_id"].nunique() > 1:
            try:
                clo, chi = jod.crossed_bootstrap(sub, names, samples, alpha, seed, boot.jod)
            except UserError:  # too sparse to resample items as well
                clo = chi = np.full(len(names), np.nan)
                for r in reasons:
                    r.append("crossed bootstrap: resamples mostly disconnected, no interval")
            clo, chi, why = _interval_reasons(boot.jod, clo, chi, "crossed bootstrap")
            for r, w in zip(reasons, why, strict=True):
                r.append(w)
            table["jod_crossed_low"], table["jod_crossed_high"] = clo, chi
        theta = bradley_terry(D)
        table["bt_theta"], table["bt_jod"] = theta, bt_to_jod(theta)
        partners: dict[int, list[str]] = {}
        for i, j in jod.separated_pairs(D):
            partners.setdefault(i, []).append(names[j])
            partners.setdefault(j, []).append(names[i])
        for i, others in partners.items():
            reasons[i].insert(0, f"separated from {', '.join(sorted(others))} (every judgment "
                                 "one way): JOD distance set by the separation prior (SD "
                                 f"{jod.SEPARATION_SD:.2f} JOD), BT by its penalty "
                                 f"alpha = {ALPHA:g}")
        table["reason"] = [validity.join(*r) for r in reasons]
        rows.append(table)
        out_comps.append(Component(number, names, boot))
    scale = pd.concat(rows, ignore_index=True)
    scale = scale.set_index("condition").loc[conditions].reset_index()
    return scale, _differences(real, conditions, out_comps), out_comps


def _differences(real: pd.DataFrame, conditions: list[str], comps: list[Component]
                 ) -> pd.DataFrame:
    D = jod.count_matrix(real, conditions)
    N = int(D.sum())
    where = {c: (comp, comp.conditions.index(c)) for comp in comps for c in comp.conditions}
    strong = _strong_labels(D)
    rows = []
    for i in range(len(conditions)):
        for j in range(i + 1, len(conditions)):
            a, b = conditions[i], conditions[j]
            (ca, ia), (cb, ib) = where[a], where[b]
            k, n = int(D[i, j]), int(D[i, j] + D[j, i])
            row = {"condition_A": a, "condition_B": b, "jod_diff": np.nan, "se": np.nan,
                   "p_two_sided": np.nan, "p_pwcmp_one_sided": np.nan, "test": "",
                   "direct_k": k, "direct_n": n, "reason": ""}
            if ca is not cb:
                row["reason"] = "different components: no common scale"
                rows.append(row)
                continue
            C = ca.boot.cov
            diff = float(ca.boot.jod[ia] - ca.boot.jod[ib])
            V = float(C[ia, ia] + C[ib, ib] - 2 * C[ia, ib])
            row["jod_diff"] = diff
            if np.isfinite(V) and V >= 0:
                row["se"] = float(np.sqrt(V))
            p = float(2 * norm.sf(abs(diff) / np.sqrt(V))) if np.isfinite(V) and V > 0 \
                else np.nan
            why = ""
            if strong[i] != strong[j]:
                why = "the distance rests on the separation prior"
            elif not np.isfinite(V):
                why = "no bootstrap variance (one worker)"
            elif V <= 0:
                why = "zero bootstrap variance"
            elif not validity.p_ok(p, N):
                why = f"z-test p below 2·0.5^{N}"
            if not why:
                row.update(p_two_sided=p, p_pwcmp_one_sided=p / 2,
                           test="z, bootstrap covariance")
            elif n:
                row.update(p_two_sided=binom_p(k, n), test="exact binomial, direct judgments",
                           reason=f"{why}: exact binomial test of the {n} direct judgments")
            else:
                row["reason"] = f"{why}, and never compared directly: no valid test"
            rows.append(row)
    diffs = pd.DataFrame(rows)
    diffs.insert(diffs.columns.get_loc("test"), "p_holm", np.nan)
    ok = diffs["p_two_sided"].notna()
    if ok.any():
        diffs.loc[ok, "p_holm"] = adjust(diffs.loc[ok, "p_two_sided"], "holm")
    return diffs
