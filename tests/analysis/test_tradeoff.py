"""Trade-off curves: method and knob from the conditions' parameters, numeric knob order."""

from __future__ import annotations

import pandas as pd

from stylestudy.analysis import figures
from stylestudy.analysis.tradeoff import sweeps


def test_method_and_knob_come_from_the_parameters_not_the_labels():
    """Labels that say nothing about the method: the parameters place each condition, and
    10 comes after 2 (numeric, not text order)."""
    conditions = pd.DataFrame([
        {"condition": "ours-soft", "method": "strotss",
         "params": {"content_weight": 10.0, "iterations": 250}},
        {"condition": "ours-hard", "method": "strotss",
         "params": {"content_weight": 2.0, "iterations": 250}},
        {"condition": "ours-mid", "method": "strotss",
         "params": {"content_weight": 0.25, "iterations": 250}},
        {"condition": "baseline", "method": "gatys", "params": {"ratio": 0.001}},
    ])
    t = sweeps(["ours-soft", "ours-hard", "ours-mid", "baseline"], conditions)
    s = t[t["method"] == "strotss"].sort_values("order")
    assert list(s["condition"]) == ["ours-mid", "ours-hard", "ours-soft"]
    assert set(s["knob"]) == {"content_weight"} and list(s["setting"]) == ["0.25", "2.0",
                                                                            "10.0"]
    g = t[t["method"] == "gatys"].iloc[0]
    assert (g["knob"], g["setting"], g["order"]) == ("", "", 0)


def test_labels_are_parsed_when_no_parameters_are_known():
    t = sweeps(["gatys[ratio=0.01]", "gatys[ratio=0.001]", "copy"])
    assert list(t.sort_values(["method", "order"])["condition"]) == [
        "copy", "gatys[ratio=0.001]", "gatys[ratio=0.01]"]


def test_the_figure_draws_one_curve_per_method_from_the_table_columns():
    rows = []
    for name, method, w, x, y in (("a1", "strotss", 2.0, 0.1, 0.9), ("a2", "strotss", 0.5,
                                  0.5, 0.4), ("b1", "gatys", 1e-3, 0.2, 0.3)):
        rows.append({"condition": name, "method": method, "knob": "w", "setting": str(w),
                     "order": 0 if w < 1 else 1, "jod_content": x, "jod_low_content": x - .1,
                     "jod_high_content": x + .1, "jod_style": y, "jod_low_style": y - .1,
                     "jod_high_style": y + .1})
    fig = figures.trade_off_figure(pd.DataFrame(rows))
    curves = {c.get_label(): c.lines[0] for c in fig.axes[0].containers}
    assert set(curves) == {"strotss (w)", "gatys"}
    assert list(curves["strotss (w)"].get_xdata()) == [0.5, 0.1]  # knob order, x = content
