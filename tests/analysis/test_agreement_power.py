"""Agreement, power and dependence-aware inference against reference values (docs/analysis.md)."""

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from stylestudy.analysis import agreement as agr
from stylestudy.analysis import clustered, power
from stylestudy.analysis.simulate import simulate_study

RATINGS = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 1, 0], [0, 0, 1, 0, 0], [1, 0, 1, 0, 1],
                    [0, 0, 0, 0, 0], [1, 1, 0, 1, 1]])  # items × raters


def test_fleiss_and_randolph_vectors():
    assert agr.fleiss(RATINGS) == pytest.approx(0.389140, abs=1e-6)
    assert agr.fleiss(RATINGS, "randolph") == pytest.approx(0.400000, abs=1e-6)


def test_krippendorff_vectors():
    rel = RATINGS.T.astype(float)
    assert agr.krippendorff_alpha(rel) == pytest.approx(0.409502, abs=1e-6)
    rel[0, 0] = np.nan
    rel[2, 3] = np.nan
    assert agr.krippendorff_alpha(rel) == pytest.approx(0.400000, abs=1e-6)


def test_raw_agreement_by_hand():
    # unit counts (5,0): 1; (4,1): 12/20; (1,4): 12/20; (3,2): 8/20; (0,5): 1; (4,1): 12/20
    counts = np.array([[5, 0], [4, 1], [1, 4], [3, 2], [0, 5], [4, 1]])
    assert agr.raw_agreement(counts) == pytest.approx((1 + .6 + .6 + .4 + 1 + .6) / 6)


def test_agreement_from_long_table_matches_vectors():
    """The vector's items as units, raters as workers, categories as method identities."""
    rows = []
    for item, ratings in enumerate(RATINGS):
        for rater, r in enumerate(ratings):
            rows.append({"worker_id": f"w{rater}", "item_id": f"i{item}", "question": "content",
                         "method_A": "x", "method_B": "y", "chosen_method": "x" if r else "y"})
    out = agr.agreement(pd.DataFrame(rows))
    assert out["krippendorff_alpha"] == pytest.approx(0.409502, abs=1e-6)
    assert out["fleiss_kappa"] == pytest.approx(0.389140, abs=1e-6)
    assert out["units"] == 6 and out["ratings"] == 30


def test_split_half_reliable_on_strong_scale():
    df = simulate_study({"a": 2.0, "b": 1.0, "c": 0.0, "d": -1.0}, n_workers=40,
                        trials_per_worker=30, seed=4)
    res = agr.split_half(df, ["a", "b", "c", "d"], repeats=30)
    assert res["splits"] == 30 and res["split_half"] > 0.9


@pytest.mark.parametrize("p1,h,n_norm,n_exact", [(0.55, 0.100167, 782.26, 786),
                                                 (0.60, 0.201358, 193.58, 199),
                                                 (0.65, 0.304693, 84.54, 90),
                                                 (0.70, 0.411517, 46.35, 49)])
def test_sample_size_vectors(p1, h, n_norm, n_exact):
    res = power.sample_size(p1)
    assert res["h"] == pytest.approx(h, abs=1e-6)
    assert res["n_normal"] == pytest.approx(n_norm, abs=0.01)
    assert res["n_exact_first"] == n_exact
    assert res["n_exact_stable"] >= n_exact
    assert all(power.exact_power(n, p1) >= 0.8
               for n in range(res["n_exact_stable"], res["n_exact_stable"] + 20))


def test_exact_power_small_case_by_hand():
    # n = 10: two-sided p ≤ .05 only for k ∈ {0, 1, 9, 10}; P under p1 = .7
    p = 0.7
    expected = (1 - p) ** 10 + 10 * p * (1 - p) ** 9 + 10 * p ** 9 * (1 - p) + p ** 10
    assert power.exact_power(10, p) == pytest.approx(expected, rel=1e-12)


def test_design_effect_vector():
    icc = power.icc_logit(0.5)
    assert icc == pytest.approx(0.0706, abs=1e-3)
    assert power.design_effect(15, icc) == pytest.approx(2.0, abs=0.02)


def _crossed(seed=0, nw=40, m=15, ni=30):
    rng = np.random.default_rng(seed)
    u, v = rng.normal(0, .5, nw), rng.normal(0, .8, ni)
    w = np.repeat(np.arange(nw), m)
    it = rng.integers(0, ni, nw * m)
    side = rng.choice([-1.0, 1.0], nw * m)
    y = (rng.random(nw * m) < expit(0.4 + u[w] + v[it] + 0.2 * side)).astype(float)
    return pd.DataFrame({"y": y, "side": side, "worker": w, "item": it})


def _sandwich_two_way(d):
    """Cameron–Gelbach–Miller by hand: V = V_w + V_i − V_wi, each with the small-sample
    factor G/(G − 1)·(N − 1)/(N − K) that statsmodels applies per grouping."""
    import statsmodels.api as sm

    X = np.column_stack([np.ones(len(d)), d["side"]])
    fit = sm.GLM(d["y"], X, family=sm.families.Binomial()).fit()
    mu = fit.fittedvalues.to_numpy()
    score = X * (d["y"].to_numpy() - mu)[:, None]
    bread = np.linalg.inv(X.T @ (X * (mu * (1 - mu))[:, None]))
    n, k = X.shape

    def meat(groups):
        g = pd.factorize(groups)[0]
        S = np.zeros((g.max() + 1, k))
        np.add.at(S, g, score)
        G = g.max() + 1
        return G / (G - 1) * (n - 1) / (n - k) * (S.T @ S)

    inter = d["worker"].astype(str) + "_" + d["item"].astype(str)
    M = meat(d["worker"]) + meat(d["item"]) - meat(inter)
    return np.sqrt(np.diag(bread @ M @ bread))[0], float(np.asarray(fit.bse)[0])


def test_two_way_cluster_se_by_hand_and_inflation():
    d = _crossed()
    res = clustered.cluster_glm(d)
    se_hand, se_naive = _sandwich_two_way(d)
    assert res["se_naive"] == pytest.approx(se_naive, rel=1e-8)
    assert res["se_cluster"] == pytest.approx(se_hand, rel=0.02)
    # the naive SE is ~1.7× too small in this design (0.0835 vs 0.1395; docs/analysis.md)
    assert res["se_naive"] == pytest.approx(0.0835, rel=0.05)
    assert res["se_cluster"] / res["se_naive"] > 1.3


def test_crossed_bootstrap_wider_than_naive_and_seeded():
    d = _crossed(1)
    lo, hi = clustered.crossed_bootstrap(d, 2000, seed=3)
    assert (lo, hi) == clustered.crossed_bootstrap(d, 2000, seed=3)
    p = d["y"].mean()
    naive = 2 * 1.96 * np.sqrt(p * (1 - p) / len(d))
    assert lo < p < hi and hi - lo > 1.2 * naive


def test_variance_components_recover_sds():
    d = _crossed(2, nw=80, m=20, ni=40)
    vc = clustered.variance_components(d)
    assert vc["sd_worker"] == pytest.approx(0.5, abs=0.25)
    assert vc["sd_item"] == pytest.approx(0.8, abs=0.3)


@pytest.mark.slow
def test_type_one_error_under_crossed_dependence():
    """No true preference (logit 0, symmetric random effects → marginal P = 0.5).

    The naive binomial test rejects far above 5 % (about 28 % here); the two-way clustered
    GLM stays near 5 % and the crossed bootstrap interval rarely misses 0.5. Tolerance over
    200 studies (binomial SD at 5 %: 1.5 %): naive > 15 %, clustered ≤ 12 %, bootstrap ≤ 10 %.
    """
    from stylestudy.analysis.pairs import binom_p

    naive = clus = boot = 0
    for s in range(200):
        d = _crossed(s)
        d["y"] = (np.random.default_rng(1000 + s).random(len(d))
                  < expit(_effects(s, d))).astype(float)
        naive += binom_p(int(d["y"].sum()), len(d)) <= 0.05
        clus += clustered.cluster_glm(d)["p_cluster"] <= 0.05
        lo, hi = clustered.crossed_bootstrap(d, 500, seed=s)
        boot += not lo <= 0.5 <= hi
    assert naive / 200 > 0.15
    assert clus / 200 <= 0.12
    assert boot / 200 <= 0.10


def _effects(seed, d):
    """Worker SD 0.5 and item SD 0.8 on the logit scale, position bias 0.2, no preference."""
    rng = np.random.default_rng(seed)
    u = rng.normal(0, 0.5, d["worker"].max() + 1)
    v = rng.normal(0, 0.8, d["item"].max() + 1)
    return u[d["worker"]] + v[d["item"]] + 0.2 * d["side"]
