"""Invariants every analysis output must satisfy (issue 16, item 1), read from the files.

- every p-value is empty or a number in [2·0.5ⁿ, 1] (one-sided: [0.5ⁿ, 1]), n = the row's
  judgments (for JOD differences: the question's judgments);
- every interval that is given contains its own estimate;
- no NaN or infinity is printed as a number in the HTML report or the LaTeX tables;
- every pair whose choices all went one way carries a separation reason.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

#: (low, estimate, high) column triples per table prefix
INTERVALS = {
    "pairs": [("wilson_low", "rate", "wilson_high"), ("cp_low", "rate", "cp_high")],
    "dependence": [("low", "estimate", "high"), ("crossed_low", "rate", "crossed_high")],
    "jod": [("jod_low", "jod", "jod_high"), ("jod_crossed_low", "jod", "jod_crossed_high")],
    "scenes": [("jod_low", "jod", "jod_high")],
}
_NAN_TEXT = re.compile(r"(?<![A-Za-z])(nan|NaN|inf|Inf)(?![A-Za-z])")


def p_columns(table: pd.DataFrame) -> list[str]:
    return [c for c in table.columns
            if c == "p" or c.startswith("p_") or c.endswith("_p")]


def check_p(table: pd.DataFrame, n, where: str) -> None:
    n = np.broadcast_to(np.asarray(n, float), (len(table),))
    for col in p_columns(table):
        # a one-sided p (pwcmp's) can reach 0.5^n, a two-sided one 2·0.5^n
        floor = np.where(n <= 1, 0.5 if "one_sided" in col else 1.0,
                         (1.0 if "one_sided" in col else 2.0) * 0.5 ** n)
        p = pd.to_numeric(table[col], errors="coerce").to_numpy(float)
        given = ~np.isnan(p)
        bad = given & ((p < floor * (1 - 1e-9)) | (p > 1 + 1e-12))
        assert not bad.any(), (where, col, table.loc[bad].to_dict("records"))


def check_intervals(table: pd.DataFrame, prefix: str, where: str) -> None:
    for lo, est, hi in INTERVALS.get(prefix, []):
        if not {lo, est, hi} <= set(table.columns):
            continue
        t = table[[lo, est, hi]].apply(pd.to_numeric, errors="coerce")
        full = t.notna().all(axis=1)
        ok = (t[lo] <= t[est] + 1e-9) & (t[est] <= t[hi] + 1e-9)
        assert (ok | ~full).all(), (where, lo, hi, table.loc[full & ~ok].to_dict("records"))
        half = t[[lo, hi]].notna().sum(axis=1) == 1
        assert not half.any(), (where, "one bound without the other")


def _separated_flagged(table: pd.DataFrame, where: str) -> None:
    whole = (table["k"] == 0) | (table["k"] == table["n"])
    reason = table.loc[whole, "reason"].fillna("").astype(str)
    assert reason.str.contains("separation").all(), where


def check_outputs(out: Path) -> None:
    """Assert the invariants on every CSV, the HTML report and the LaTeX files in ``out``."""
    pairs = pd.read_csv(out / "pairs.csv")
    check_p(pairs, pairs["n"], "pairs.csv")
    check_intervals(pairs, "pairs", "pairs.csv")
    _separated_flagged(pairs, "pairs.csv")
    n_question = pairs.groupby("question")["n"].sum()
    for path in sorted(out.glob("*.csv")):
        name = path.stem
        if name.startswith("dependence_"):
            t = pd.read_csv(path)
            check_p(t, t["n"], name)
            check_intervals(t, "dependence", name)
            _separated_flagged(t, name)
        elif name.startswith("jod_differences_"):
            q = name.removeprefix("jod_differences_")
            t = pd.read_csv(path)
            check_p(t, n_question.get(q, 1), name)
        elif name.startswith("jod_") and name.removeprefix("jod_") in n_question:
            check_intervals(pd.read_csv(path), "jod", name)
        elif name.startswith("scenes_"):
            t = pd.read_csv(path)
            if len(t):
                check_intervals(t, "scenes", name)
    for path in [out / "report.html", *sorted(out.glob("*.tex"))]:
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".html":  # the values, not the inline figures or the metadata
            text = re.sub(r"<svg.*?</svg>|<pre>.*?</pre>", "", text, flags=re.S)
            cells = re.findall(r"<td>([^<]*)</td>", text)
            printed = [c for c in cells if _NAN_TEXT.search(c)]
        else:
            printed = _NAN_TEXT.findall(text)
        assert not printed, (path.name, printed[:5])
