"""Dependence-aware inference for one method pair (docs/analysis.md, "Dependence-aware inference").

Trials are crossed (workers × items), so the naive binomial test is anti-conservative.
:func:`pair_inference` reports, per pair, one dependence-aware estimate, interval and p with
the method that produced them and the reason when the first choice could not be trusted:

1. the two-way cluster-robust GLM ``y ~ 1 + side`` (worker and item; Cameron, Gelbach &
   Miller 2011) when its estimate and sandwich standard error exist and can be trusted:
   no separation, at least :data:`MIN_CLUSTERS` levels in each clustering dimension, a
   converged fit with an invertible Hessian, a positive finite SE and a p-value inside
   [2·0.5ⁿ, 1];
2. otherwise the wild cluster bootstrap with Rademacher weights and the null imposed, which
   for the intercept's score is the sign-flip randomisation test over workers (Cameron,
   Gelbach & Miller 2008; Canay, Romano & Shaikh 2017): exact when every sign vector can be
   enumerated. Its interval is the crossed bootstrap's, or Clopper–Pearson when that is
   degenerate (one side always chosen, or nothing to resample).

Beside them: the crossed cluster bootstrap of p̂ and BinomialBayesMixedGLM variance
components (VB; ``vcp_mean`` holds log-SDs; its fixed-effect SD is not used for inference).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy.special import expit
from scipy.stats import fisher_exact, norm

from stylestudy.analysis import validity

__all__ = ["MIN_CLUSTERS", "MIN_LEVELS", "cluster_glm", "crossed_bootstrap", "pair_frame",
           "pair_inference", "sign_flip_p", "variance_components"]

#: fewest levels of a clustering dimension for the sandwich estimator: with fewer, Wald tests
#: on cluster-robust SEs over-reject badly (Cameron, Gelbach & Miller 2008, Table 3;
#: Cameron & Miller 2015, §VI)
MIN_CLUSTERS = 10
#: fewest levels for a variance component: with fewer, the posterior SD is mostly the
#: prior's (Gelman 2006, §5)
MIN_LEVELS = 5
#: sign vectors are enumerated (an exact test) up to this many workers, else sampled
EXACT_FLIPS = 16
Z975 = 1.959963984540054


def pair_frame(g: pd.DataFrame) -> pd.DataFrame:
    """y (A chosen), side (+1 when A was on the left, −1 right, 0 unknown), worker, item codes."""
    side = g["left_is_A"].map({True: 1.0, False: -1.0}).astype(float).fillna(0.0)
    return pd.DataFrame({
        "y": g["chose_A"].astype(float).to_numpy(), "side": side.to_numpy(),
        "worker": pd.factorize(g["worker_id"])[0], "item": pd.factorize(g["item_id"])[0],
    })


def _design(d: pd.DataFrame, side: bool) -> np.ndarray:
    """[1, side] when ``side`` and the position varies, else the intercept alone."""
    X = np.column_stack([np.ones(len(d)), d["side"].to_numpy(float)])
    return X if side and np.linalg.matrix_rank(X) == 2 else X[:, :1]


def cluster_glm(d: pd.DataFrame, side: bool = True) -> dict[str, float | str]:
    """Binomial GLM ``y ~ 1 + side``: naive and two-way cluster-robust (worker, item) SEs.

    A factor with one level is left out of the clustering (one-way, or naive if both).
    The intercept is the log-odds of choosing A with position balanced; ``side`` is the
    position bias. Returns the estimate as a rate with the clustered 95% Wald interval, and
    ``reason`` (empty when the fit can be trusted; else why not, and the numbers are NaN).
    """
    import statsmodels.api as sm
    from statsmodels.tools.sm_exceptions import PerfectSeparationError

    out: dict[str, float | str] = {
        "glm_rate": np.nan, "glm_low": np.nan, "glm_high": np.nan, "se_naive": np.nan,
        "se_cluster": np.nan, "p_cluster": np.nan, "side_coef": np.nan, "side_p": np.nan,
        "reason": ""}
    X = _design(d, side)
    y = d["y"].to_numpy(float)
    n = len(y)
    if y.min() == y.max():
        out["reason"] = "separation: the logit estimate does not exist"
        return out
    if n <= X.shape[1]:
        out["reason"] = "no residual degree of freedom"
        return out
    if validity.separated(X, y):
        out["reason"] = "quasi-separation: the logit estimate does not exist"
        return out
    dims = [d[c].to_numpy() for c in ("worker", "item") if d[c].nunique() > 1]
    model = sm.GLM(y, X, family=sm.families.Binomial())
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            naive = model.fit()
            clus = model.fit(cov_type="cluster", cov_kwds={"groups": np.column_stack(dims)}) \
                if dims else naive
    except (np.linalg.LinAlgError, ZeroDivisionError, PerfectSeparationError,
            FloatingPointError, ValueError) as exc:
        out["reason"] = f"the GLM fit failed ({type(exc).__name__})"
        return out
    if not (getattr(naive, "converged", True) and getattr(clus, "converged", True)):
        out["reason"] = "the GLM did not converge"
        return out
    b, se = float(clus.params[0]), float(clus.bse[0])
    if not (np.isfinite(b) and np.isfinite(se) and se > 0):
        out["reason"] = "zero or undefined cluster-robust variance"
        return out
    p = float(2 * norm.sf(abs(b) / se))
    out.update(glm_rate=float(expit(b)), glm_low=float(expit(b - Z975 * se)),
               glm_high=float(expit(b + Z975 * se)), se_naive=float(naive.bse[0]),
               se_cluster=se, p_cluster=p)
    if X.shape[1] == 2:
        out.update(side_coef=float(clus.params[1]), side_p=float(clus.pvalues[1]))
    if not validity.p_ok(p, n):
        out["reason"] = "p below 2·0.5^n: the sandwich SE has collapsed"
    return out


def sign_flip_p(y: np.ndarray, groups: np.ndarray, samples: int = 2000, seed: int = 0
                ) -> float:
    """Two-sided p of "no preference" by flipping the sign of each group's centred sum.

    The statistic is |Σ_g S_g| with S_g = Σ_{i∈g} (y_i − ½): the intercept's score, whose
    wild cluster bootstrap under the null with Rademacher weights (Cameron, Gelbach & Miller
    2008) is this randomisation test (Canay, Romano & Shaikh 2017). Exact (every sign
    vector) up to :data:`EXACT_FLIPS` groups with a non-zero sum, else ``samples`` random
    vectors with p = (1 + hits)/(1 + samples). Never below 2·0.5^G.
    """
    S = np.bincount(np.asarray(groups), weights=np.asarray(y, float) - 0.5)
    S = S[np.abs(S) > 1e-12]
    if S.size == 0:
        return 1.0
    T = abs(S.sum()) - 1e-9
    G = S.size
    if G <= EXACT_FLIPS:
        signs = ((np.arange(2 ** G)[:, None] >> np.arange(G)) & 1) * 2.0 - 1.0
        return float(np.mean(np.abs(signs @ S) >= T))
    rng = np.random.default_rng(seed)
    signs = rng.integers(0, 2, (samples, G)) * 2.0 - 1.0
    return float((1 + np.sum(np.abs(signs @ S) >= T)) / (1 + samples))


def crossed_bootstrap(d: pd.DataFrame, samples: int = 2000, seed: int = 0,
                      alpha: float = 0.05) -> tuple[float, float]:
    """Percentile CI of p̂ when workers and items are resampled independently.

    A row's weight in a resample is (times its worker was drawn) × (times its item was drawn).
    """
    rng = np.random.default_rng(seed)
    w, it, y = d["worker"].to_numpy(), d["item"].to_numpy(), d["y"].to_numpy()
    nw, ni = w.max() + 1, it.max() + 1
    est = np.empty(samples)
    chunk = max(1, 2_000_000 // max(len(y), 1))
    for start in range(0, samples, chunk):
        b = min(chunk, samples - start)
        cw = rng.multinomial(nw, np.full(nw, 1 / nw), size=b)
        ci = rng.multinomial(ni, np.full(ni, 1 / ni), size=b)
        wt = cw[:, w] * ci[:, it]
        tot = wt.sum(axis=1)
        with np.errstate(invalid="ignore"):
            est[start:start + b] = (wt @ y) / tot
    est = est[np.isfinite(est)]
    if est.size == 0:
        return np.nan, np.nan
    lo, hi = np.quantile(est, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def variance_components(d: pd.DataFrame) -> dict[str, float | str]:
    """Worker and item random-effect SDs (logit scale) from ``BinomialBayesMixedGLM.fit_vb``.

    A dimension with fewer than :data:`MIN_LEVELS` levels gets no SD; a pair whose choices
    all agree, or a fit that does not converge, gets none; ``reason`` says which.
    """
    from statsmodels.genmod.bayes_mixed_glm import BinomialBayesMixedGLM
    from statsmodels.tools.sm_exceptions import ConvergenceWarning

    out: dict[str, float | str] = {"sd_worker": np.nan, "sd_item": np.nan, "reason": ""}
    dims = [c for c in ("worker", "item") if d[c].nunique() >= MIN_LEVELS]
    few = [f"{d[c].nunique()} {c}{'s' if d[c].nunique() != 1 else ''}"
           for c in ("worker", "item") if c not in dims]
    if few:
        out["reason"] = (f"variance components need >= {MIN_LEVELS} levels "
                         f"({', '.join(few)})")
    if not dims or d["y"].nunique() < 2:
        return out
    formula = "y ~ 1 + side" if _design(d, True).shape[1] == 2 else "y ~ 1"
    model = BinomialBayesMixedGLM.from_formula(formula, {c: f"0 + C({c})" for c in dims}, d)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            res = model.fit_vb()
        except (np.linalg.LinAlgError, ValueError, FloatingPointError):
            res = None
    if res is None or any(issubclass(w.category, ConvergenceWarning) for w in caught):
        out["reason"] = validity.join(str(out["reason"]), "variance components: VB did not "
                                                          "converge")
        return out
    names = list(model.vcp_names)
    sds = np.exp(res.vcp_mean)
    for c in dims:
        out[f"sd_{c}"] = float(sds[names.index(c)])
    return out


def _fisher_side(y: np.ndarray, side: np.ndarray) -> float:
    """Fisher's exact p of position × choice (A on the left / right × A chosen or not)."""
    left, right = y[side > 0], y[side < 0]
    if not (len(left) and len(right)):
        return np.nan
    table = [[left.sum(), len(left) - left.sum()], [right.sum(), len(right) - right.sum()]]
    return float(fisher_exact(table).pvalue)


def pair_inference(d: pd.DataFrame, samples: int = 2000, seed: int = 0,
                   alpha: float = 0.05) -> dict[str, float | str]:
    """One dependence-aware row for a pair (see the module docstring for the ladder).

    Keys: k, n, workers, items, rate, estimate, low, high, p, method, se_naive,
    se_cluster, se_ratio, side_coef, side_p, crossed_low, crossed_high, sd_worker, sd_item,
    reason.
    """
    from stylestudy.analysis.pairs import interval

    y, side = d["y"].to_numpy(float), d["side"].to_numpy(float)
    k, n = int(y.sum()), len(y)
    gw, gi = d["worker"].nunique(), d["item"].nunique()
    row: dict[str, float | str] = {"k": k, "n": n, "workers": gw, "items": gi, "rate": k / n}
    reasons: list[str] = []
    if k in (0, n):
        reasons.append(f"separation: {'A' if k else 'B'} always chosen "
                       f"({k}/{n}); the logit estimate does not exist")
    side_sep = validity.side_separation(y, side)
    if side_sep:
        reasons.append(side_sep + ": position term dropped, Fisher's exact test for it")
    clo, chi = crossed_bootstrap(d, samples, seed, alpha)
    dims = [(c, d[c].nunique()) for c in ("worker", "item") if d[c].nunique() > 1]
    glm: dict[str, float | str] | None = None
    if 0 < k < n:
        few = [c for c, g in dims if g < MIN_CLUSTERS]
        if not dims:
            reasons.append("one worker and one item: no clusters for a sandwich estimator")
        elif few:
            reasons.append(f"too few clusters for a sandwich estimator (fewer than "
                           f"{MIN_CLUSTERS} {' and '.join(c + 's' for c in few)})")
        else:
            glm = cluster_glm(d, side=not side_sep)
            if glm["reason"]:
                reasons.append(str(glm["reason"]))
                glm = None
    if glm is not None:
        named = " × ".join(c for c, _ in dims)
        row.update(estimate=glm["glm_rate"], low=glm["glm_low"], high=glm["glm_high"],
                   p=glm["p_cluster"], method=f"cluster-robust GLM ({named}), Wald",
                   se_naive=glm["se_naive"], se_cluster=glm["se_cluster"],
                   se_ratio=float(glm["se_cluster"]) / float(glm["se_naive"]),
                   side_coef=glm["side_coef"], side_p=glm["side_p"])
    else:
        lo, hi = clo, chi
        how = "crossed bootstrap interval"
        if not (np.isfinite(lo) and np.isfinite(hi)) or hi - lo <= 0:
            lo, hi = interval(k, n, "clopper_pearson", alpha)
            how = "Clopper-Pearson interval"
        row.update(estimate=k / n, low=lo, high=hi,
                   p=sign_flip_p(y, d["worker"].to_numpy(), samples, seed),
                   method=f"sign-flip test over workers (wild cluster bootstrap), {how}",
                   se_naive=np.nan, se_cluster=np.nan, se_ratio=np.nan,
                   side_coef=np.nan, side_p=_fisher_side(y, side))
    if np.isfinite(float(row["side_p"])) and not validity.p_ok(float(row["side_p"]), n):
        reasons.append("position p below 2·0.5^n: Fisher's exact test instead")
        row.update(side_coef=np.nan, side_p=_fisher_side(y, side))
    lo, hi, widened = validity.contain(float(row["estimate"]), float(row["low"]),
                                       float(row["high"]))
    if widened:
        reasons.append("interval widened to contain the estimate")
    row.update(low=lo, high=hi)
    clo, chi, widened = validity.contain(k / n, clo, chi)
    if widened:
        reasons.append("crossed bootstrap interval widened to contain the rate")
    if np.isfinite(clo) and chi - clo <= 0:
        reasons.append("crossed bootstrap: zero width (every resample alike), not shown")
        clo = chi = np.nan
    row.update(crossed_low=clo, crossed_high=chi)
    vc = variance_components(d)
    row.update(sd_worker=vc["sd_worker"], sd_item=vc["sd_item"])
    row["reason"] = validity.join(*reasons, str(vc["reason"]))
    return row
