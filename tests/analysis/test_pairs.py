"""Per-pair statistics against reference values (docs/analysis.md, "Reference values")."""

import numpy as np
import pandas as pd
import pytest

from stylestudy.analysis.pairs import adjust, binom_p, canonical_pairs, interval, pair_table
from stylestudy.analysis.simulate import simulate_study

# k = 30, n = 40
INTERVALS = {
    "wilson": (0.598060, 0.858129),
    "clopper_pearson": (0.588038, 0.873085),
    "jeffreys": (0.601694, 0.863607),
    "agresti_coull": (0.596388, 0.859801),
    "wald": (0.615810, 0.884190),
}


@pytest.mark.parametrize("method", INTERVALS)
def test_interval_vectors(method):
    assert interval(30, 40, method) == pytest.approx(INTERVALS[method], abs=1e-6)


def test_bounds_at_zero_and_n_are_exact():
    """Wilson's formula leaves 2.776e-17 at k = 0; the bound is 0."""
    assert interval(0, 9)[0] == 0.0 and interval(9, 9)[1] == 1.0
    assert interval(0, 9, "clopper_pearson")[0] == 0.0


def test_wilson_formula_by_hand():
    # (p + z²/2n ± z√(p(1−p)/n + z²/4n²)) / (1 + z²/n), z = 1.959964
    z, k, n = 1.959963984540054, 7, 10
    p = k / n
    c = (p + z * z / (2 * n)) / (1 + z * z / n)
    h = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    assert interval(k, n) == pytest.approx((c - h, c + h), abs=1e-12)


@pytest.mark.parametrize("k,n,p", [(30, 40, 0.0022214338), (20, 20, 1.9073486e-06),
                                   (7, 10, 0.34375)])
def test_binomial_p_vectors(k, n, p):
    assert binom_p(k, n) == pytest.approx(p, rel=1e-7)


PVALS = [.001, .008, .039, .041, .042, .060, .074, .205]


def test_holm_vector():
    assert adjust(PVALS, "holm") == pytest.approx([.008, .056, .234, .234, .234, .234, .234,
                                                   .234], abs=1e-9)
    assert (adjust(PVALS, "holm") < .05).sum() == 1


def test_bh_vector():
    assert adjust(PVALS, "fdr_bh") == pytest.approx(
        [.008, .032, .0672, .0672, .0672, .08, .084571, .205], abs=1e-6)
    assert (adjust(PVALS, "fdr_bh") < .05).sum() == 2


@pytest.mark.parametrize("seed", range(5))
def test_adjust_equals_statsmodels(seed):
    from statsmodels.stats.multitest import multipletests

    p = np.random.default_rng(seed).random(seed + 3) ** 3
    p[0] = p[-1]  # a tie
    for method in ("holm", "fdr_bh"):
        assert adjust(p, method) == pytest.approx(multipletests(p, method=method)[1],
                                                  abs=1e-15)


def test_holm_sidak_default_refused():
    with pytest.raises(ValueError):
        adjust(PVALS, "hs")


def _rows(spec):
    """spec: list of (method_A, method_B, chose_A, left_method)."""
    return pd.DataFrame([{"method_A": a, "method_B": b, "chose_A": c, "left_method": l}
                         for a, b, c, l in spec])


def test_canonical_orientation_follows_identity():
    df = _rows([("b", "a", True, "b"), ("a", "b", True, "b")])
    out = canonical_pairs(df)
    assert list(out["method_A"]) == ["a", "a"]
    assert list(out["chose_A"]) == [False, True]   # first row chose b
    assert list(out["left_is_A"]) == [False, False]
    focal = canonical_pairs(df, focal="b")
    assert list(focal["method_A"]) == ["b", "b"] and list(focal["chose_A"]) == [True, False]


def test_pair_table_counts_and_family():
    df = simulate_study({"ours": 1.0, "x": 0.0, "y": -0.5}, n_workers=10,
                        question=("content", "style"), seed=3)
    t = pair_table(df, focal="ours")
    real = df[df.trial_kind == "real"]
    for r in t.itertuples():
        g = real[(real.question == r.question)
                 & (((real.method_A == r.method_A) & (real.method_B == r.method_B))
                    | ((real.method_A == r.method_B) & (real.method_B == r.method_A)))]
        assert r.n == len(g)
        assert r.k == int((g.chosen_method == r.method_A).sum())
        assert r.method_A == "ours" or np.isnan(r.p_holm)
    # Holm family per question: the two focal pairs of each question
    for _q, g in t.groupby("question"):
        fam = g[g.method_A == "ours"]
        assert list(fam.p_holm) == pytest.approx(list(adjust(fam.p_exact, "holm")))
        assert list(g.p_bh) == pytest.approx(list(adjust(g.p_exact, "fdr_bh")))
    t_all = pair_table(df, family="all")
    assert list(t_all.p_holm) == pytest.approx(list(adjust(t_all.p_exact, "holm")))


def test_position_bias_by_hand():
    from stylestudy.analysis.data import validate
    from stylestudy.analysis.pairs import position_bias

    df = validate(pd.DataFrame({
        "worker_id": ["w"] * 4, "trial_id": list("1234"), "item_id": ["i"] * 4,
        "question": ["content"] * 4, "method_A": ["a"] * 4, "method_B": ["b"] * 4,
        "left_method": ["a", "b", "a", "b"], "chose_A": [True, False, True, True]}))
    pb = position_bias(df)   # left chosen in trials 1, 2, 3
    assert (pb["n"], pb["k_left"], pb["p_left"]) == (4, 3, 0.75)
    assert pb["p_value"] == pytest.approx(0.625)   # 2·P(X ≥ 3 | 4, ½) = 2·5/16
    assert (pb["ci_low"], pb["ci_high"]) == pytest.approx(interval(3, 4))
