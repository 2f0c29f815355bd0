"""Every estimate is valid or replaced and flagged: pilots that crashed the clustered GLM,
separated pairs that printed p = 1e-75, the checks and fallbacks themselves."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from report_checks import check_outputs
from scipy.stats import binomtest

from stylestudy.analysis import api, validity
from stylestudy.analysis.data import validate
from stylestudy.analysis.settings import Settings
from stylestudy.analysis.simulate import simulate_study

SIX = {f"m{i}": v for i, v in enumerate([2.0, 1.0, 0.8, 0.4, -0.2, -2.0])}


@pytest.mark.parametrize("workers,per_worker,seed", [
    (4, 26, 4),    # ZeroDivisionError: float division by zero (a zero cluster-robust SE)
    (8, 13, 0),    # numpy.linalg.LinAlgError: Singular matrix (separated GLM)
])
def test_pilot_studies_are_analysed(tmp_path, workers, per_worker, seed):
    """Small pilots (6 methods, 104 judgments) ended in a traceback inside the GLM."""
    df = simulate_study(SIX, n_workers=workers, n_items=3, trials_per_worker=per_worker,
                        worker_sd=0.3, seed=seed)
    api.analyze(df, Settings(bootstrap=20), out_dir=tmp_path)
    assert (tmp_path / "report.html").is_file()
    check_outputs(tmp_path)
    dep = pd.read_csv(tmp_path / "dependence_content.csv")
    assert dep["reason"].fillna("").str.contains("too few clusters|separation").all()


def _pair_rows(choices, sides, workers=None, items=6):
    """One pair a vs b: ``choices[i]`` = a chosen, ``sides[i]`` = a on the left."""
    n = len(choices)
    workers = workers or list(range(n))
    return validate(pd.DataFrame({
        "worker_id": [f"w{w}" for w in workers], "trial_id": [f"t{i}" for i in range(n)],
        "item_id": [f"i{i % items}" for i in range(n)], "question": "content",
        "method_A": "a", "method_B": "b",
        "left_method": ["a" if s else "b" for s in sides], "chose_A": choices}))


def test_quasi_separated_pair_is_flagged_and_keeps_its_p_floor(tmp_path):
    """The demo's case: a chosen 11 of 12 times, every time it was on the left. The GLM's
    intercept runs off (rate 0.99999, interval [1, 1], p = 1e-75); the exact p is 0.0063."""
    df = _pair_rows([True] * 6 + [True] * 5 + [False], [True] * 6 + [False] * 6)
    api.analyze(df, Settings(bootstrap=20), out_dir=tmp_path)
    check_outputs(tmp_path)
    pairs = pd.read_csv(tmp_path / "pairs.csv").iloc[0]
    assert pairs["p_exact"] == pytest.approx(binomtest(11, 12).pvalue) == pytest.approx(
        0.0063477, abs=1e-6)
    dep = pd.read_csv(tmp_path / "dependence_content.csv").iloc[0]
    assert "quasi-separation by position (A always chosen when on the left)" in dep["reason"]
    assert dep["estimate"] == pytest.approx(11 / 12)
    assert dep["low"] < dep["estimate"] <= dep["high"] and dep["high"] - dep["low"] > 0.1
    # 12 workers with one judgment each: the sign-flip test is the exact binomial test
    assert dep["p"] == pytest.approx(binomtest(11, 12).pvalue)
    # Fisher's exact test of position: 6/6 on the left vs 5/6 on the right
    assert "Fisher" in dep["reason"] and dep["side_p"] == pytest.approx(1.0)
    assert "quasi-separation" in pd.read_csv(tmp_path / "pairs.csv")["reason"].iloc[0]


def test_unanimous_pair_falls_back_to_exact_methods(tmp_path):
    df = _pair_rows([True] * 12, [i % 2 == 0 for i in range(12)],
                    workers=[i // 3 for i in range(12)])  # 4 workers, 3 judgments each
    api.analyze(df, Settings(bootstrap=20), out_dir=tmp_path)
    check_outputs(tmp_path)
    dep = pd.read_csv(tmp_path / "dependence_content.csv").iloc[0]
    assert dep["reason"].startswith("separation: A always chosen (12/12)")
    assert dep["p"] == pytest.approx(2 * 0.5 ** 4)  # every worker chose a: 2 of 16 flips
    assert dep["low"] == pytest.approx(0.025 ** (1 / 12)) and dep["high"] == 1.0
    assert np.isnan(dep["crossed_low"]) and "zero width" in dep["reason"]
    pairs = pd.read_csv(tmp_path / "pairs.csv").iloc[0]
    assert pairs["p_exact"] == pytest.approx(2 * 0.5 ** 12)
    assert "separation" in pairs["reason"]


@pytest.mark.parametrize("X,y,expected", [
    ([[1], [1], [1]], [1, 1, 1], True),                      # complete separation
    ([[1], [1], [1]], [1, 0, 1], False),
    ([[1, 1], [1, 1], [1, -1], [1, -1]], [1, 1, 1, 0], True),  # quasi: left always chosen
    ([[1, 1], [1, 1], [1, -1], [1, -1]], [1, 0, 1, 0], False),
    ([[1, 1], [1, 0], [1, -1], [1, 0]], [1, 1, 1, 0], False),  # unknown sides overlap
    ([[1, 2], [1, 1], [1, -1], [1, -2]], [1, 1, 0, 0], True),  # complete, by the slope
])
def test_separation_by_hand(X, y, expected):
    assert validity.separated(np.array(X, float), np.array(y, float)) is expected


def test_p_floor_and_containment():
    assert validity.p_floor(12) == pytest.approx(binomtest(12, 12).pvalue)
    assert validity.p_floor(1) == 1.0 and validity.p_ok(1.0, 1)
    assert not validity.p_ok(3.6e-75, 12) and not validity.p_ok(float("nan"), 3)
    assert validity.contain(0.5, 0.6, 0.9) == (0.5, 0.9, True)
    assert validity.contain(0.7, 0.6, 0.9) == (0.6, 0.9, False)
    assert validity.join("a", "", "b", "a") == "a; b"


def test_sign_flip_test_by_enumeration():
    from stylestudy.analysis.clustered import sign_flip_p

    y = np.array([1, 1, 0, 1, 1, 1, 0, 0, 1])
    g = np.array([0, 0, 0, 1, 1, 2, 2, 3, 3])
    S = np.array([0.5, 1.0, 0.0, 0.0])  # centred sums; workers 2 and 3 sum to zero
    flips = [abs(np.dot(s, S)) for s in itertools.product([-1, 1], repeat=4)]
    assert sign_flip_p(y, g) == pytest.approx(np.mean(np.array(flips) >= 1.5 - 1e-9))
    assert sign_flip_p(np.ones(5), np.arange(5)) == pytest.approx(2 / 32)
    assert sign_flip_p(np.ones(30), np.arange(30), samples=999, seed=1) == pytest.approx(
        1 / 1000)
    assert sign_flip_p(np.array([1.0, 0.0]), np.array([0, 0])) == 1.0


def test_tables_that_once_crashed_the_report(tmp_path):
    """Four workers, each on a pair of its own, three times (a chain a–b–c–d–e): every
    worker alone links the graph (no outlier score), and no unit has two workers
    (Krippendorff's α raised ValueError)."""
    rows = [{"worker_id": f"w{w}", "trial_id": f"{w}-{t}", "item_id": "i",
             "question": "content", "method_A": a, "method_B": b, "chose_A": t != 1}
            for w, (a, b) in enumerate(["ab", "bc", "cd", "de"]) for t in range(3)]
    api.analyze(validate(pd.DataFrame(rows)), Settings(bootstrap=20, pair_bootstrap=50),
                out_dir=tmp_path)
    check_outputs(tmp_path)
    outliers = pd.read_csv(tmp_path / "outliers_content.csv")
    assert outliers["dist_L"].isna().all() and not outliers["flagged"].any()
    assert outliers["reason"].str.contains("needs this worker").all()
    assert np.isnan(pd.read_csv(tmp_path / "agreement.csv")["krippendorff_alpha"].iloc[0])
