"""JOD scaling (pwcmp port), bootstrap, significance, outliers and the BT cross-check."""

import math

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.stats import norm

from stylestudy.analysis import jod
from stylestudy.analysis.bt import bradley_terry, bt_to_jod
from stylestudy.analysis.simulate import simulate_study
from stylestudy.errors import UserError

README = np.array([[0, 25, 0], [75, 0, 25], [0, 75, 0]])


@pytest.mark.parametrize("prior,reg,expected", [
    ("none", "mean0", [-0.9999985, 0, 0.9999985]),
    ("gaussian", "mean0", [-0.9999984, 0.0, 0.9999984]),
    ("gaussian", "fix0", [0, 0.9999985, 1.9999970]),
])
def test_pwcmp_vectors(prior, reg, expected):
    """The values of upstream pwcmp's pw_scale.m in Octave 7.3 on its README's example."""
    assert jod.scale(README, prior, reg) == pytest.approx(expected, abs=1e-4)


def test_one_jod_is_75_percent():
    assert norm.cdf(1 / jod.SIGMA) == pytest.approx(0.7500003, abs=1e-7)
    for p, d in ((0.6, 0.3756), (0.9, 1.9000), (0.95, 2.4387)):
        assert jod.SIGMA * norm.ppf(p) == pytest.approx(d, abs=1e-4)


@pytest.mark.parametrize("k,n", [(7, 10), (30, 40), (12, 50)])
def test_two_conditions_closed_form(k, n):
    """Without prior the ML difference of two conditions is σ·Φ⁻¹(k/n), split ± around 0."""
    d = jod.SIGMA * norm.ppf(k / n)
    q = jod.scale(np.array([[0, k], [n - k, 0]]), prior="none")
    assert q == pytest.approx([d / 2, -d / 2], abs=1e-6)


def _pwcmp_objective_literal(q, D, prior):
    """pw_scale.m's objective transcribed literally (products, no log space), mean0."""
    Ds = D + D.T
    ii, jj = np.nonzero(Ds.T > 0)
    ii, jj = jj, ii
    prob = norm.cdf(q[ii] - q[jj], 0, 1.4826)
    Dn, Dtn = D[ii, jj], D[jj, ii]
    p = prob ** Dn * (1 - prob) ** Dtn
    if prior == "gaussian":
        ua = (Dn == 0) | (Dtn == 0)
        k = Dn.copy()
        k[ua & (Dn == 0)] = 1
        k[ua & (Dn != 0)] -= 1
        n = Dn + Dtn
        aux = prob[:, None] ** k[None, :] * (1 - prob[:, None]) ** (n - k)[None, :]
        pri = (aux / aux.sum(axis=0)).sum(axis=1)
    else:
        pri = np.ones_like(prob)
    return -np.sum(np.log(p) + np.log(pri + 0.1)) + 0.01 * np.mean(q) ** 2


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("prior", ["gaussian", "none"])
def test_independent_route_nelder_mead(seed, prior):
    """Our BFGS (log space, analytic gradient) against the literal objective, no gradient."""
    rng = np.random.default_rng(seed)
    D = rng.integers(1, 9, size=(4, 4)).astype(float)
    np.fill_diagonal(D, 0)
    if prior == "gaussian":
        D[0, 3], D[3, 0] = 6, 0  # a unanimous pair: only the prior keeps it finite
    ref = minimize(_pwcmp_objective_literal, np.zeros(4), args=(D, prior),
                   method="Nelder-Mead", options={"xatol": 1e-9, "fatol": 1e-12,
                                                  "maxiter": 40000, "maxfev": 40000})
    assert jod.scale(D, prior) == pytest.approx(ref.x, abs=1e-4)


def test_large_counts_do_not_underflow():
    """pwcmp's products underflow near 1e5 judgments; the log-space port stays exact."""
    D = README * 400
    assert jod.scale(D) == pytest.approx([-1, 0, 1], abs=1e-3)


def test_unanimous_pair_needs_the_prior():
    D = np.array([[0, 10, 5], [0, 0, 5], [5, 5, 0]])
    q = jod.scale(D)
    assert np.all(np.isfinite(q)) and q[0] > q[1]


def test_disconnected_graph_refused():
    D = np.zeros((4, 4))
    D[0, 1] = D[1, 0] = 3
    D[2, 3] = 4
    with pytest.raises(UserError, match=r"disconnected \(2 components: \{a, b\}; \{c, d\}\)"):
        jod.scale(D, names=list("abcd"))


@pytest.mark.parametrize("bad", [np.ones((2, 3)), np.array([[0, -1], [1, 0]]),
                                 np.array([[0, 0.5], [1, 0]])])
def test_bad_matrices_refused(bad):
    with pytest.raises(UserError):
        jod.scale(bad)


def test_residuals():
    q = jod.scale(README, "none")
    R = jod.residuals(README, q)
    assert np.nanmax(np.abs(R)) < 1e-4 and np.isnan(R[0, 2])


def test_significance_two_sided_by_hand():
    q = np.array([0.0, 1.0])
    cov = np.array([[0.04, 0.01], [0.01, 0.09]])
    p, d = jod.significance(q, cov)
    z = 1 / math.sqrt(0.04 + 0.09 - 0.02)
    assert p[0, 1] == pytest.approx(math.erfc(z / math.sqrt(2)), rel=1e-12)
    assert d[1, 0] == 1.0


def test_bootstrap_identical_observers_has_no_spread():
    one = np.array([[0, 3, 1], [1, 0, 2], [2, 1, 0]], float)
    res = jod.bootstrap(np.stack([one] * 6), samples=20)
    assert res.low == pytest.approx(res.jod, abs=1e-5)
    assert res.high == pytest.approx(res.jod, abs=1e-5)
    assert np.abs(res.cov).max() < 1e-9


def test_outlier_observer_flagged():
    good = np.array([[0, 0, 0], [3, 0, 0], [3, 3, 0]], float)  # 3 ≻ 2 ≻ 1
    MM = np.stack([good] * 7 + [good.T])                        # the last one reverses
    L, dist = jod.outliers(MM)
    assert dist[-1] > 1.5 and np.all(dist[:-1] == 0)
    assert L[-1] < L[:-1].min()


def test_bt_vector_and_conversion():
    """75:25 chains: θ = ±ln 3 (odds 3:1); converted, 1 JOD (= 75 %)."""
    D = np.zeros((3, 3))
    D[1, 0], D[0, 1], D[2, 1], D[1, 2] = 75, 25, 75, 25
    theta = bradley_terry(D)
    assert theta == pytest.approx([-math.log(3), 0, math.log(3)], abs=1e-4)
    assert bt_to_jod(theta) == pytest.approx([-1.0, 0, 1.0], abs=1e-3)


@pytest.mark.slow
def test_simulated_recovery_and_coverage():
    """Known strengths: order recovered; bootstrap 95% CIs cover the truth at about 95%.

    Tolerance: over 30 studies × 4 conditions (120 intervals) coverage in [0.85, 1.0];
    the binomial SD at 0.95 is 0.02, intervals within a study are correlated.
    """
    truth = {"a": 1.2, "b": 0.4, "c": 0.0, "d": -0.8}
    centred = np.array(list(truth.values())) - np.mean(list(truth.values()))
    cover, order_ok = [], 0
    for seed in range(30):
        df = simulate_study(truth, n_workers=25, n_items=4, trials_per_worker=24, seed=seed)
        _, MM = jod.observer_matrices(df, list(truth))
        res = jod.bootstrap(MM, samples=200, seed=seed)
        cover += list((res.low <= centred) & (centred <= res.high))
        order_ok += bool(np.all(np.diff(res.jod) < 0))
    rate = np.mean(cover)
    assert 0.85 <= rate <= 1.0, rate
    assert order_ok >= 27


def test_outliers_observer_linking_the_graph_is_nan():
    a = np.zeros((3, 3))
    a[0, 1], a[1, 0] = 3, 1
    link = np.zeros((3, 3))
    link[1, 2], link[2, 1] = 2, 1
    MM = np.stack([a, a, a.T, a, a, a + link])
    L, dist = jod.outliers(MM)
    assert np.isnan(L[-1]) and np.isnan(dist[-1])
    assert np.all(np.isfinite(dist[:-1]))


def test_crossed_bootstrap_seeded_and_brackets():
    truth = {"a": 1.0, "b": 0.2, "c": -0.6}
    df = simulate_study(truth, n_workers=20, n_items=5, item_sd=0.5, seed=6)
    _, MM = jod.observer_matrices(df, list(truth))
    q = jod.scale(MM.sum(axis=0))
    lo, hi = jod.crossed_bootstrap(df, list(truth), 100, seed=2, start=q)
    assert np.all(lo <= q) and np.all(q <= hi)
    lo2, hi2 = jod.crossed_bootstrap(df, list(truth), 100, seed=2, start=q)
    assert np.allclose(lo, lo2) and np.allclose(hi, hi2)


UNANIMOUS = {
    "two conditions, 5 to 0": np.array([[0, 5], [0, 0]]),
    "two conditions, 12 to 0": np.array([[0, 12], [0, 0]]),
    "a chain of unanimous pairs": np.array([[0, 5, 0], [0, 0, 5], [0, 0, 0]]),
    "every pair unanimous": np.triu(np.full((4, 4), 3), 1),
}


@pytest.mark.parametrize("prior", ["gaussian", "none"])
@pytest.mark.parametrize("name", list(UNANIMOUS))
def test_unanimous_distance_does_not_depend_on_the_tolerance(name, prior):
    """Before: ±3.54 to ±5.29 JOD for 12 to 0 as gtol went from 1e-4 to 1e-10."""
    D = UNANIMOUS[name]
    qs = [jod.scale(D, prior, gtol=g) for g in (1e-4, 1e-6, 1e-8, 1e-10)]
    for q in qs[:-1]:
        assert q == pytest.approx(qs[-1], abs=2e-3)
    assert np.all(np.abs(qs[-1]) < 5)


@pytest.mark.parametrize("n", [1, 3, 5, 12, 50])
def test_separation_prior_by_hand(n):
    """Two conditions judged n to 0: the mode of n·log Φ(d/σ) − d²/(2·2) (one likelihood,
    the N(0, 2) prior on d), solved by root finding; n − 1 to 1 stays closer."""
    from scipy.optimize import brentq

    s = jod.SIGMA
    d = brentq(lambda x: n * norm.pdf(x / s) / (s * norm.cdf(x / s)) - x / 2, 1e-9, 50)
    q = jod.scale(np.array([[0, n], [0, 0]]), gtol=1e-10)
    assert q[0] - q[1] == pytest.approx(d, abs=1e-5)
    if n > 1:
        r = jod.scale(np.array([[0, n - 1], [1, 0]]), gtol=1e-10)
        assert 0 < r[0] - r[1] < d


def test_separated_pairs_are_those_no_chain_of_wins_reverses():
    D = np.array([[0, 10, 5], [0, 0, 5], [5, 5, 0]])  # 0 ≻ 1 always, but 1 ≻ 2 ≻ 0 occurs
    assert jod.separated_pairs(D) == []
    assert jod.separated_pairs(UNANIMOUS["a chain of unanimous pairs"]) == [(0, 1), (1, 2)]
    D = np.array([[0, 3, 0, 0], [1, 0, 4, 0], [0, 0, 0, 2], [0, 0, 1, 0]])
    assert jod.separated_pairs(D) == [(1, 2)]  # {0, 1} always beat {2, 3} across 1–2


@pytest.mark.parametrize("name", list(UNANIMOUS))
def test_bt_unanimous_set_by_alpha_not_tolerance(name):
    D = UNANIMOUS[name]
    thetas = [bradley_terry(D, tol=t) for t in (1e-3, 1e-5, 1e-8, 1e-10)]
    for t in thetas[:-1]:
        assert t == pytest.approx(thetas[-1], abs=1e-6)
    # a weaker penalty moves the estimate: α, not the tolerance, bounds it
    assert np.abs(bradley_terry(D, alpha=1e-6)).max() > np.abs(thetas[-1]).max() + 0.5


def test_bootstrap_of_one_observer_has_no_interval():
    res = jod.bootstrap(README[None], samples=20)
    assert np.all(np.isnan(res.low)) and np.all(np.isnan(res.high))
    assert res.jod == pytest.approx([-1, 0, 1], abs=1e-4)
