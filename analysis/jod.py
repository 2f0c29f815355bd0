"""Thurstone Case V scaling in JOD units, ported from pwcmp (mantiuk/pwcmp ``07876b2``).

``scale`` follows ``pw_scale.m``: P(i ≻ j) = Φ((q_i − q_j)/σ), σ = 1.4826 (1 JOD = 75 %);
the default ``'gaussian'`` prior (unanimous counts shifted by one, normalised over all
compared pairs, ``−Σ log(prior + 0.1)``); ``'mean0'`` regularisation 0.01·mean(q)² or
``'fix0'`` (q_1 ≡ 0); BFGS with the analytic gradient from q = 0 (pwcmp uses ``fminunc``).
The likelihood and prior are evaluated in log space (pwcmp multiplies probabilities, which
underflows for large counts); where pwcmp's products do not underflow the two agree.
A disconnected comparison graph is refused (pwcmp links the components and warns); the
report scales each connected component on its own.

Where no judgment ever reversed an ordering (the win graph is not strongly connected), the
likelihood has no maximum and pwcmp's prior does not always bound it (two conditions, or a
chain of unanimous pairs): the distance would be set by the optimiser's tolerance. Those
*separated* pairs (compared, in different strongly connected components of the win graph)
get a Gaussian prior on their difference, N(0, :data:`SEPARATION_SD`²); every other pair is
scaled exactly as pwcmp. Ford (1957) gives the condition for the Bradley–Terry likelihood;
the same argument holds for Thurstone Case V.
pwcmp's gradient of the mean0 term is 0.02·mean(q)·q/N rather than 0.02·mean(q)/N; both
vanish, with the likelihood gradient (whose entries sum to zero), only where mean(q) = 0,
so the optimum is the same; the port uses the exact gradient.

``bootstrap`` follows ``pw_scale_bootstrp.m`` (observers resampled with replacement,
percentile CI, covariance of the samples); ``significance`` follows
``pw_significance_matrix.m`` but reports the two-sided p = 2·Φ(−|Δ|/√V) (pwcmp returns the
one-sided tail). ``outliers`` follows ``pw_outlier_analysis.m`` (Dec 2024).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components
from scipy.special import log_ndtr
from scipy.stats import binom, norm

from stylestudy.errors import UserError

__all__ = [
    "SIGMA",
    "BootstrapResult",
    "bootstrap",
    "components",
    "count_matrix",
    "crossed_bootstrap",
    "is_connected",
    "observer_matrices",
    "outliers",
    "residuals",
    "scale",
    "separated_pairs",
    "significance",
]

#: pwcmp's σ: Φ(1/σ) = 0.75, so 1 JOD = 75 % preference (pw_scale.m)
SIGMA = 1.4826
#: SD (JOD) of the prior on a separated pair's difference: with it two conditions judged
#: n to 0 end up further apart than n − 1 to 1 for every n below 640, and within 0.012 JOD of
#: it up to n = 10,000 (docs/analysis.md, "JOD scale")
SEPARATION_SD = float(np.sqrt(2.0))
_LOG_SQRT_2PI = 0.5 * np.log(2 * np.pi)


def count_matrix(df: pd.DataFrame, conditions: Sequence[str]) -> np.ndarray:
    """D[i, j] = times condition i was chosen over j, from a long table's real rows."""
    idx = {c: i for i, c in enumerate(conditions)}
    a = df["method_A"].map(idx).to_numpy()
    b = df["method_B"].map(idx).to_numpy()
    win_a = df["chose_A"].to_numpy(bool)
    w = np.where(win_a, a, b).astype(int)
    lo = np.where(win_a, b, a).astype(int)
    D = np.zeros((len(conditions), len(conditions)))
    np.add.at(D, (w, lo), 1)
    return D


def observer_matrices(df: pd.DataFrame, conditions: Sequence[str]
                      ) -> tuple[list[str], np.ndarray]:
    """Per-observer count matrices, shape (observers, N, N) (pwcmp's ``MM``, unflattened)."""
    obs = sorted(df["worker_id"].unique())
    oi = {o: i for i, o in enumerate(obs)}
    idx = {c: i for i, c in enumerate(conditions)}
    a = df["method_A"].map(idx).to_numpy()
    b = df["method_B"].map(idx).to_numpy()
    win_a = df["chose_A"].to_numpy(bool)
    MM = np.zeros((len(obs), len(conditions), len(conditions)))
    np.add.at(MM, (df["worker_id"].map(oi).to_numpy(), np.where(win_a, a, b).astype(int),
                   np.where(win_a, b, a).astype(int)), 1)
    return obs, MM


def components(D: np.ndarray) -> list[list[int]]:
    """Connected components of the comparison graph (conditions compared at least once),
    by ``scipy.sparse.csgraph.connected_components`` (docs/analysis.md, "JOD scale")."""
    n, labels = connected_components(csr_matrix((D + D.T) > 0), directed=False)
    return [list(np.flatnonzero(labels == k)) for k in range(n)]


def separated_pairs(D: np.ndarray) -> list[tuple[int, int]]:
    """Compared pairs (i < j) whose conditions lie in different strongly connected components
    of the win graph (an edge i → j when i beat j at least once): no chain of wins leads
    back, so the data alone cannot bound their distance."""
    D = np.asarray(D, float)
    _, labels = connected_components(csr_matrix(D > 0), directed=True, connection="strong")
    i, j = np.nonzero(np.triu((D + D.T) > 0, 1))
    keep = labels[i] != labels[j]
    return list(zip(i[keep].tolist(), j[keep].tolist(), strict=True))


def is_connected(D: np.ndarray) -> bool:
    """Whether the comparison graph is connected (breadth-first; cheap for bootstrap loops)."""
    G = (D + D.T) > 0
    seen = np.zeros(G.shape[0], bool)
    seen[0] = True
    frontier = np.array([0])
    while frontier.size:
        frontier = np.flatnonzero(G[frontier].any(axis=0) & ~seen)
        seen[frontier] = True
    return bool(seen.all())


def _check_connected(D: np.ndarray, names: Sequence[str] | None) -> None:
    comps = components(D)
    if len(comps) > 1:
        label = (lambda i: str(names[i])) if names is not None else str
        parts = "; ".join("{" + ", ".join(label(i) for i in c) + "}" for c in comps)
        raise UserError(f"the comparison graph is disconnected ({len(comps)} components: "
                        f"{parts}); JOD differences between components are undefined. "
                        "Collect comparisons that link them, or scale each component alone")


def _log_phi(x: np.ndarray) -> np.ndarray:
    return -0.5 * x * x - _LOG_SQRT_2PI


class _Objective:
    """pw_scale.m's objective and gradient over the ordered compared pairs."""

    def __init__(self, D: np.ndarray, prior: str, regularization: str):
        N = D.shape[0]
        Ds = D + D.T
        # column-major order, as MATLAB's find (only matters for reproducibility of sums)
        rows, cols = np.nonzero((Ds > 0).T)
        rows, cols = cols, rows
        self.N, self.i, self.j = N, rows, cols
        self.k = D[rows, cols]
        self.kt = D[cols, rows]
        n = self.k + self.kt
        ua = (self.k == 0) | (self.kt == 0)
        kc = self.k.copy()
        kc[ua & (self.k == 0)] = 1
        kc[ua & (self.k != 0)] -= 1
        self.kn = np.vstack([kc, n - kc])
        self.prior, self.reg = prior, regularization
        sep = np.array(separated_pairs(D), int).reshape(-1, 2)
        self.si, self.sj = sep[:, 0], sep[:, 1]

    def full(self, qt: np.ndarray) -> np.ndarray:
        return qt if self.reg == "mean0" else np.concatenate([[0.0], qt])

    def __call__(self, qt: np.ndarray) -> tuple[float, np.ndarray]:
        q = self.full(qt)
        x = (q[self.i] - q[self.j]) / SIGMA
        lp, lq = log_ndtr(x), log_ndtr(-x)           # log Φ(x), log(1 − Φ(x))
        lpdf = _log_phi(x)
        hp, hq = np.exp(lpdf - lp), np.exp(lpdf - lq)  # φ/Φ, φ/(1 − Φ)
        f = -np.sum(self.k * lp + self.kt * lq)
        dx = -(self.k * hp - self.kt * hq)            # d f / d x_r
        if self.prior == "gaussian":
            # A[r, c] = log(π_r^{k_c} (1 − π_r)^{n_c − k_c}); W = column-softmax over r
            A = np.column_stack([lp, lq]) @ self.kn
            E = np.exp(A - A.max(axis=0))
            W = E / E.sum(axis=0)
            prior = W.sum(axis=1)
            u = 1.0 / (prior + 0.1)
            f -= np.sum(np.log(prior + 0.1))
            # d A[r, c]/d x_r = k_c φ/Φ − (n_c − k_c) φ/(1 − Φ); s_c = Σ_r u_r W[r, c]
            s = u @ W
            kc, nk = self.kn
            Wv = W @ np.column_stack([kc, kc * s, nk, nk * s])
            dx -= hp * (u * Wv[:, 0] - Wv[:, 1]) - hq * (u * Wv[:, 2] - Wv[:, 3])
        grad = np.zeros(self.N)
        np.add.at(grad, self.i, dx / SIGMA)
        np.add.at(grad, self.j, -dx / SIGMA)
        if self.si.size:
            # the separation prior −log N(q_i − q_j; 0, s²), doubled as the likelihood is
            # (pw_scale.m sums it over both orders of every pair)
            d = q[self.si] - q[self.sj]
            f += np.sum(d * d) / SEPARATION_SD ** 2
            np.add.at(grad, self.si, 2 * d / SEPARATION_SD ** 2)
            np.add.at(grad, self.sj, -2 * d / SEPARATION_SD ** 2)
        if self.reg == "mean0":
            m = q.mean()
            f += 0.01 * m * m
            grad += 0.01 * 2 * m / self.N
            return f, grad
        return f, grad[1:]


def scale(D: np.ndarray, prior: str = "gaussian", regularization: str = "mean0",
          names: Sequence[str] | None = None, gtol: float = 1e-6,
          start: np.ndarray | None = None, check: bool = True) -> np.ndarray:
    """JOD score per condition from the count matrix ``D`` (row i beat column j D[i, j] times).

    Test vectors (pwcmp's pw_scale.m in Octave): D = [[0,25,0],[75,0,25],[0,75,0]] gives
    [−1, 0, 1] (mean0) and [0, 1, 2] (fix0) within 1e-4. ``gtol`` is the gradient norm at
    which BFGS stops (``fminunc``'s default optimality tolerance is also 1e-6); the optimum
    always exists (the separation prior bounds what the data do not), so the result does not
    depend on it beyond its own precision. ``start``
    replaces pwcmp's q = 0 starting point (the bootstrap starts from the full-data solution;
    same optimum). ``check=False`` skips the connectivity check (the caller has done it).
    """
    D = np.asarray(D, dtype=float)
    if D.ndim != 2 or D.shape[0] != D.shape[1]:
        raise UserError("the comparison matrix must be square")
    if not np.all(np.isfinite(D)) or np.any(D < 0) or np.any(np.floor(D) != D):
        raise UserError("the comparison matrix must hold non-negative integer counts")
    if prior not in ("gaussian", "none"):
        raise UserError("prior must be 'gaussian' or 'none'")
    if regularization not in ("mean0", "fix0"):
        raise UserError("regularization must be 'mean0' or 'fix0'")
    N = D.shape[0]
    if N < 2:
        return np.zeros(N)
    if check:
        _check_connected(D, names)
    obj = _Objective(D, prior, regularization)
    q0 = np.zeros(N if regularization == "mean0" else N - 1)
    if start is not None:
        q0 = np.asarray(start, float)[-len(q0):].copy()
    res = minimize(obj, q0, jac=True, method="BFGS", options={"gtol": gtol, "maxiter": 2000})
    return obj.full(res.x)


def residuals(D: np.ndarray, q: np.ndarray) -> np.ndarray:
    """R_ij = (q_i − q_j) − σ·Φ⁻¹(D_ij/(D_ij + D_ji)) over non-unanimous pairs, else NaN."""
    D = np.asarray(D, float)
    Ds = D + D.T
    valid = (D > 0) & (D.T > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        data = SIGMA * norm.ppf(D / Ds)
    R = np.full(D.shape, np.nan)
    fit = q[:, None] - q[None, :]
    R[valid] = fit[valid] - data[valid]
    return R


def _hazen(x: np.ndarray, p: float, axis: int = 0) -> np.ndarray:
    """MATLAB ``prctile``/``quantile`` (numpy ``method='hazen'``)."""
    return np.quantile(x, p, axis=axis, method="hazen")


@dataclass
class BootstrapResult:
    """JOD, percentile interval and covariance from bootstrapping observers."""

    jod: np.ndarray
    low: np.ndarray
    high: np.ndarray
    cov: np.ndarray
    samples: np.ndarray


def bootstrap(MM: np.ndarray, samples: int = 1000, alpha: float = 0.05, seed: int = 0,
              prior: str = "gaussian", regularization: str = "mean0",
              names: Sequence[str] | None = None, progress: bool = False) -> BootstrapResult:
    """pw_scale_bootstrp.m: resample observers (first axis of ``MM``) with replacement.

    A resample whose graph is disconnected cannot be scaled and is drawn again. With one
    observer (or ``samples`` < 2) there is nothing to resample: the interval and covariance
    are NaN.
    """
    MM = np.asarray(MM, float)
    jod = scale(MM.sum(axis=0), prior, regularization, names)
    N = MM.shape[1]
    if samples < 2 or MM.shape[0] < 2:  # nothing to resample: no interval
        nan = np.full(N, np.nan)
        return BootstrapResult(jod, nan, nan.copy(), np.full((N, N), np.nan),
                               np.empty((0, N)))
    rng = np.random.default_rng(seed)
    out = np.empty((samples, N))
    it = range(samples)
    if progress:
        from tqdm import tqdm

        it = tqdm(it, desc="bootstrap", unit="sample", leave=False)
    tries = 0
    for s in it:
        while True:
            D = MM[rng.integers(0, MM.shape[0], MM.shape[0])].sum(axis=0)
            if is_connected(D):
                break
            tries += 1
            if tries > 10 * samples:
                raise UserError("bootstrap resamples are mostly disconnected: too few "
                                "observers per pair to bootstrap")
        out[s] = scale(D, prior, regularization, start=jod, check=False)
    return BootstrapResult(jod, _hazen(out, alpha / 2), _hazen(out, 1 - alpha / 2),
                           np.cov(out, rowvar=False), out)


def crossed_bootstrap(df: pd.DataFrame, conditions: Sequence[str], samples: int = 1000,
                      alpha: float = 0.05, seed: int = 0, start: np.ndarray | None = None
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Percentile JOD interval when workers and items are resampled independently.

    A judgment's weight in a resample is (times its worker was drawn) × (times its item was
    drawn), an integer, so each resample is an ordinary count matrix. Not in pwcmp (which
    resamples observers only); it also carries the item-to-item variation.
    """
    idx = {c: i for i, c in enumerate(conditions)}
    a = df["method_A"].map(idx).to_numpy()
    b = df["method_B"].map(idx).to_numpy()
    win_a = df["chose_A"].to_numpy(bool)
    w, lo = np.where(win_a, a, b).astype(int), np.where(win_a, b, a).astype(int)
    wk = pd.factorize(df["worker_id"])[0]
    it = pd.factorize(df["item_id"])[0]
    nw, ni, N = wk.max() + 1, it.max() + 1, len(conditions)
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(10 * samples):
        cw = rng.multinomial(nw, np.full(nw, 1 / nw))
        ci = rng.multinomial(ni, np.full(ni, 1 / ni))
        D = np.zeros((N, N))
        np.add.at(D, (w, lo), cw[wk] * ci[it])
        if is_connected(D):
            out.append(scale(D, start=start, check=False))
            if len(out) == samples:
                break
    if len(out) < samples:
        raise UserError("crossed bootstrap resamples are mostly disconnected: too few "
                        "workers or items per pair")
    arr = np.asarray(out)
    return _hazen(arr, alpha / 2), _hazen(arr, 1 - alpha / 2)


def significance(jod: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided p = 2·Φ(−|q_i − q_j|/√V_ij), V_ij = C_ii + C_jj − 2C_ij; and the differences.

    pwcmp's ``pw_significance_matrix`` returns Φ(−|Δ|/√V), a one-sided tail, i.e. half this.
    """
    c = np.diag(cov)
    V = c[:, None] + c[None, :] - 2 * cov
    Dq = jod[:, None] - jod[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        p = 2 * norm.cdf(-np.abs(Dq) / np.sqrt(V))
    np.fill_diagonal(p, 1.0)
    return p, Dq


def outliers(MM_list: Sequence[np.ndarray] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """pw_outlier_analysis.m: leave-one-out log₁₀-likelihood per observer and dist_L.

    ``MM_list``: one (observers, N, N) array per scene, same observers in every scene.
    L_o = Σ log₁₀ Binom(M_o(i,j); n_o(i,j), Φ(Δ_ij/σ)) over i < j with n > 0, divided by the
    number of such pairs; dist_L = (Q1 − L_o)/IQR when L_o < Q1, else 0 (hazen quantiles).
    An observer without whom the comparison graph falls apart gets NaN (pwcmp would link the
    components artificially).
    """
    if isinstance(MM_list, np.ndarray) and MM_list.ndim == 3:
        MM_list = [MM_list]
    n_obs = MM_list[0].shape[0]
    L = np.zeros(n_obs)
    n_pairs = np.zeros(n_obs)
    for MM in MM_list:
        MM = np.asarray(MM, float)
        total = MM.sum(axis=0)
        N = MM.shape[1]
        upper = np.triu(np.ones((N, N), bool), 1)
        for o in range(n_obs):
            if not is_connected(total - MM[o]):  # this observer alone links the graph
                L[o] = np.nan
                continue
            jod = scale(total - MM[o], check=False)
            P = norm.cdf((jod[:, None] - jod[None, :]) / SIGMA)
            M = MM[o]
            n = M + M.T
            sel = upper & (n > 0)
            p = binom.pmf(M[sel], n[sel], P[sel])
            L[o] += np.sum(np.log10(np.maximum(p, 1e-200)))
            n_pairs[o] += sel.sum()
    n_pairs[n_pairs == 0] = 1
    L = L / n_pairs
    ok = np.isfinite(L)
    if not ok.any():  # every observer alone links the graph: nobody can be scored
        return L, np.full(n_obs, np.nan)
    q1, q3 = _hazen(L[ok], 0.25), _hazen(L[ok], 0.75)
    iqr = q3 - q1
    with np.errstate(invalid="ignore", divide="ignore"):
        dist = np.where(q1 > L, (q1 - L) / iqr, 0.0)
    dist[~ok] = np.nan
    return L, dist
