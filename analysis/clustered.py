"""Dependence-aware inference for one method pair (analysis.md §3).

Trials are crossed (workers × items), so the naive binomial test is anti-conservative.
Reported beside it: the two-way cluster-robust GLM ``y ~ 1 + side`` (worker and item),
a crossed cluster bootstrap of p̂, and BinomialBayesMixedGLM variance components (VB;
``vcp_mean`` holds log-SDs; its fixed-effect SD is not used for inference).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy.special import expit
from scipy.stats import norm

__all__ = ["cluster_glm", "crossed_bootstrap", "pair_frame", "variance_components"]


def pair_frame(g: pd.DataFrame) -> pd.DataFrame:
    """y (A chosen), side (+1 when A was on the left, −1 right, 0 unknown), worker, item codes."""
    side = g["left_is_A"].map({True: 1.0, False: -1.0}).astype(float).fillna(0.0)
    return pd.DataFrame({
        "y": g["chose_A"].astype(float).to_numpy(), "side": side.to_numpy(),
        "worker": pd.factorize(g["worker_id"])[0], "item": pd.factorize(g["item_id"])[0],
    })


def cluster_glm(d: pd.DataFrame) -> dict[str, float]:
    """Binomial GLM ``y ~ 1 + side``: naive and two-way cluster-robust (worker, item) SEs.

    A factor with one level is left out of the clustering (one-way, or naive if both).

    The intercept is the log-odds of choosing A with position balanced; ``side`` is the
    position bias. Returns the estimate as a rate with the clustered 95% Wald interval.
    """
    import statsmodels.api as sm

    X = np.column_stack([np.ones(len(d)), d["side"]]) if d["side"].abs().sum() else \
        np.ones((len(d), 1))
    y = d["y"].to_numpy()
    out = {"glm_rate": np.nan, "glm_low": np.nan, "glm_high": np.nan, "se_naive": np.nan,
           "se_cluster": np.nan, "p_cluster": np.nan, "side_coef": np.nan, "side_p": np.nan}
    if y.min() == y.max():  # unanimous: the logit MLE does not exist
        return out
    if len(y) <= X.shape[1]:  # no residual degree of freedom: no (robust) standard error
        return out
    model = sm.GLM(y, X, family=sm.families.Binomial())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        naive = model.fit()
        # a factor with a single level cannot be a cluster dimension
        dims = [d[c].to_numpy() for c in ("worker", "item") if d[c].nunique() > 1]
        clus = model.fit(cov_type="cluster", cov_kwds={"groups": np.column_stack(dims)}) \
            if dims else naive
    b, se = float(clus.params[0]), float(clus.bse[0])
    out.update(glm_rate=float(expit(b)), glm_low=float(expit(b - 1.959964 * se)),
               glm_high=float(expit(b + 1.959964 * se)), se_naive=float(naive.bse[0]),
               se_cluster=se, p_cluster=float(2 * norm.sf(abs(b) / se)))
    if X.shape[1] == 2:
        out.update(side_coef=float(clus.params[1]), side_p=float(clus.pvalues[1]))
    return out


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
    lo, hi = np.quantile(est, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def variance_components(d: pd.DataFrame) -> dict[str, float]:
    """Worker and item random-effect SDs (logit scale) from ``BinomialBayesMixedGLM.fit_vb``."""
    from statsmodels.genmod.bayes_mixed_glm import BinomialBayesMixedGLM

    out = {"sd_worker": np.nan, "sd_item": np.nan}
    if d["worker"].nunique() < 2 or d["item"].nunique() < 2 or d["y"].nunique() < 2:
        return out
    formula = "y ~ 1 + side" if d["side"].abs().sum() else "y ~ 1"
    model = BinomialBayesMixedGLM.from_formula(
        formula, {"worker": "0 + C(worker)", "item": "0 + C(item)"}, d)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = model.fit_vb()
    names = list(model.vcp_names)
    sds = np.exp(res.vcp_mean)
    out["sd_worker"] = float(sds[names.index("worker")])
    out["sd_item"] = float(sds[names.index("item")])
    return out
