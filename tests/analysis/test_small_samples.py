"""Small and extreme samples: figures and models must not break on them."""

from __future__ import annotations

import pandas as pd

from stylestudy.analysis import figures


def test_unanimous_pair_and_percentile_interval_plot():
    pairs = pd.DataFrame({"question": ["content"] * 2, "method_A": ["a", "a"],
                          "method_B": ["b", "c"], "rate": [1.0, 0.5],
                          "wilson_low": [0.7, 0.3], "wilson_high": [1.0 - 1e-16, 0.7]})
    assert figures.svg_text(figures.preference_figure(pairs, "content")).startswith("<svg")
    # a percentile bootstrap interval that lies entirely above its point estimate
    scale = pd.DataFrame({"condition": ["a", "b"], "jod": [0.0, 1.0],
                          "jod_low": [0.1, 0.5], "jod_high": [0.4, 1.5]})
    assert "<svg" in figures.svg_text(figures.jod_figure(scale, "content"))


def test_error_extents_are_clipped():
    low, high = figures._err([1.0, 0.0], [0.8, 0.1], [1.0 - 1e-16, 0.4])
    assert list(low) == [0.19999999999999996, 0.0] and list(high) == [0.0, 0.4]


def test_cluster_glm_with_as_many_rows_as_parameters():
    """Two judgments of one pair, one per side: the estimate has no standard error."""
    import math

    from stylestudy.analysis import clustered

    d = pd.DataFrame({"y": [1.0, 0.0], "side": [1.0, -1.0], "worker": [0, 1], "item": [0, 1]})
    out = clustered.cluster_glm(d)
    assert math.isnan(out["se_cluster"]) and math.isnan(out["glm_rate"])
