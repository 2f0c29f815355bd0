"""`analyze` never fails on a valid judgment table (hypothesis): small and lopsided studies —
1–6 workers, 2–6 methods, 1–3 items, unanimous pairs, a single pair, a single worker, one
side always chosen, each worker one win and one loss on a pair, disconnected graphs — give
exit 0, every output, and the invariants of report_checks."""

from __future__ import annotations

import tempfile
from itertools import combinations
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from report_checks import check_outputs

from stylestudy.cli import cli

METHODS = [f"m{i}" for i in range(6)]
#: how the choices are made: at random, A of each pair always, the left image always,
#: each worker judging a pair twice with one win and one loss, or each worker keeping to a
#: pair of its own (every worker alone links the graph)
MODES = ("random", "unanimous", "left", "one_each", "own_pair")
SETTINGS = "analysis:\n  bootstrap: 8\n  pair_bootstrap: 40\n"


@st.composite
def studies(draw) -> pd.DataFrame:
    """A long table of real trials; one, some or every pair of 2–6 methods, possibly in
    two groups that were never compared with each other."""
    methods = METHODS[:draw(st.integers(2, 6))]
    pairs = list(combinations(methods, 2))
    if len(methods) >= 4 and draw(st.booleans()):  # two components
        cut = draw(st.integers(2, len(methods) - 2))
        pairs = [(a, b) for a, b in pairs if (a in methods[:cut]) == (b in methods[:cut])]
    pairs = draw(st.lists(st.sampled_from(pairs), min_size=1, max_size=len(pairs),
                          unique=True))
    workers = draw(st.integers(1, 6))
    items = draw(st.integers(1, 3))
    questions = draw(st.sampled_from([("content",), ("style",), ("content", "style")]))
    mode = draw(st.sampled_from(MODES))
    trial = st.tuples(st.sampled_from(pairs), st.integers(0, items - 1),
                      st.sampled_from(questions), st.booleans(), st.booleans(), st.booleans())
    rows = []
    for w in range(workers):
        for (a, b), item, q, flip, left_a, chose_a in draw(st.lists(trial, min_size=1,
                                                                    max_size=6)):
            if mode == "own_pair":
                a, b = pairs[w % len(pairs)]
            if flip:  # the same pair in either order of A and B
                a, b = b, a
            choices = {"random": [chose_a], "unanimous": [a < b], "left": [left_a],
                       "one_each": [True, False], "own_pair": [chose_a]}[mode]
            for k, c in enumerate(choices):
                rows.append({"worker_id": f"w{w}", "trial_id": f"t{len(rows)}",
                             "item_id": f"c{item}-s0", "question": q, "method_A": a,
                             "method_B": b, "left_method": a if left_a != bool(k) else b,
                             "chose_A": c, "rt_ms": 900 + 10 * k})
    return pd.DataFrame(rows)


def _expected_files(df: pd.DataFrame) -> list[str]:
    names = ["pairs.csv", "judgments_pwcmp.csv", "agreement.csv", "metadata.json",
             "report.html", "main.tex"]
    for q in sorted(set(df["question"])):
        names += [f"{t}_{q}.csv" for t in ("jod", "jod_differences", "dependence", "scenes",
                                           "outliers")]
        names += [f"methods_{q}.tex", f"pairs_{q}.tex", f"jod_{q}.pdf", f"jod_{q}.svg",
                  f"preferences_{q}.pdf", f"preferences_{q}.svg"]
    if set(df["question"]) == {"content", "style"}:
        names += ["trade_off.csv", "trade_off.pdf", "trade_off.svg"]
    return names


@pytest.mark.slow
@settings(max_examples=200, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(studies())
def test_analyze_never_fails_and_keeps_the_invariants(df):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        df.to_csv(tmp / "j.csv", index=False)
        (tmp / "s.yaml").write_text(SETTINGS)
        res = CliRunner().invoke(cli, ["analyze", "--csv", str(tmp / "j.csv"), "-o",
                                       str(tmp / "out"), "--settings", str(tmp / "s.yaml")])
        assert res.exit_code == 0, (res.output, res.exception)
        out = tmp / "out"
        missing = [n for n in _expected_files(df) if not (out / n).is_file()]
        assert not missing, missing
        check_outputs(out)
        pairs = pd.read_csv(out / "pairs.csv")
        assert len(pairs) == len({(q, *sorted((a, b))) for q, a, b in zip(
            df["question"], df["method_A"], df["method_B"], strict=True)})
