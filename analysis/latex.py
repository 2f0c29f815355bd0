"""Paper-ready LaTeX (booktabs): per question a table of methods (JOD with its 95 % interval
and BT) and a table of pairwise preferences, and ``main.tex`` that inputs every table and
figure and compiles with pdflatex.

Values are rounded to their precision (an interval's half-width to two significant digits),
p-values are written as journals do (three decimals, "< 0.001"), a missing value is "--",
and every text that comes from the data (method names, the title) is escaped. A row whose
numbers are not the primary method's carries a letter; the letters are explained under the
table.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["decimals", "escape", "fmt", "fmt_p", "main_tex", "methods_table", "pairs_table"]

_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
            "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
            "^": r"\textasciicircum{}", "[": "{[}", "]": "{]}", "<": r"\textless{}",
            ">": r"\textgreater{}", "|": r"\textbar{}", "\"": "''"}
_UNICODE = {"α": r"$\alpha$", "β": r"$\beta$", "σ": r"$\sigma$", "Φ": r"$\Phi$",
            "×": r"$\times$", "·": r"$\cdot$", "≥": r"$\geq$", "≤": r"$\leq$", "±": r"$\pm$",
            "–": "--", "—": "---", "’": "'", "‘": "`", "“": "``", "”": "''", "…": r"\dots{}",
            "→": r"$\rightarrow$", "√": r"$\surd$", "²": r"\textsuperscript{2}",
            "ⁿ": r"\textsuperscript{n}", "\u00a0": "~"}
NA = "--"


def escape(text: object) -> str:
    """``text`` safe in LaTeX text mode (pdflatex, utf8): specials escaped, common symbols as
    commands, any other character outside Latin-1 written as its code point."""
    out = []
    for ch in str(text):
        if ch in _SPECIAL:
            out.append(_SPECIAL[ch])
        elif ch in _UNICODE:
            out.append(_UNICODE[ch])
        elif ord(ch) < 32:
            out.append(" ")
        elif ord(ch) > 255 or 127 <= ord(ch) < 160:
            out.append(_greek(ch) or f"U+{ord(ch):04X}")
        else:
            out.append(ch)
    return "".join(out)


def _greek(ch: str) -> str:
    """A Greek letter as math (\\gamma, \\Omega), or ''."""
    import unicodedata

    name = unicodedata.name(ch, "")
    if not name.startswith("GREEK ") or " LETTER " not in name or name.count(" ") != 3:
        return ""
    case, letter = name.split()[1], name.split()[-1].lower()
    if letter == "omicron":
        return "o" if case == "SMALL" else "O"
    if case == "SMALL":
        return f"$\\{letter}$"
    upper = {"gamma", "delta", "theta", "lambda", "xi", "pi", "sigma", "upsilon", "phi", "psi",
             "omega"}
    return f"$\\{letter.capitalize()}$" if letter in upper else ""


def _label(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9:-]+", "-", text)


def decimals(half_widths, default: int = 2) -> int:
    """Decimals that show a typical interval half-width with two significant digits (1–3)."""
    h = np.asarray(half_widths, float)
    h = h[np.isfinite(h) & (h > 0)]
    if h.size == 0:
        return default
    return int(min(3, max(1, 1 - math.floor(math.log10(float(np.median(h)))))))


def fmt(x: float, digits: int) -> str:
    """A number to ``digits`` decimals with a true minus sign, or "--" when missing."""
    if x is None or not np.isfinite(x):
        return NA
    s = f"{x:.{digits}f}"
    if float(s) == 0:
        s = s.lstrip("-")
    return f"${s}$" if s.startswith("-") else s


def fmt_p(p: float) -> str:
    """A p-value as journals write it: three decimals, or "< 0.001"."""
    if p is None or not np.isfinite(p):
        return NA
    return "$<$ 0.001" if p < 0.0005 else f"{p:.3f}"


def _interval(lo: float, hi: float, digits: int) -> str:
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return NA
    return f"[{fmt(lo, digits)}, {fmt(hi, digits)}]"


def _letter(i: int) -> str:
    """a, b, …, z, aa, ab, …"""
    return (_letter(i // 26 - 1) if i >= 26 else "") + chr(ord("a") + i % 26)


def _notes(reasons: list[list[str]]) -> tuple[list[str], str]:
    """Letters per row and the notes block: a reason shared by every row is said once,
    unlettered; the others get letters in order of first use."""
    common = set.intersection(*map(set, reasons)) if len(reasons) > 1 else set()
    texts: list[str] = []
    marks = []
    for parts in reasons:
        letters = []
        for part in dict.fromkeys(parts):
            if part in common:
                continue
            if part not in texts:
                texts.append(part)
            letters.append(_letter(texts.index(part)))
        marks.append("$^{" + ",".join(letters) + "}$" if letters else "")
    lines = ["All rows: " + escape(t) for t in dict.fromkeys(
        p for parts in reasons for p in parts if p in common)]
    lines += [f"$^{{{_letter(i)}}}$ {escape(t)}" for i, t in enumerate(texts)]
    if not lines:
        return marks, ""
    return marks, ("\\par\\smallskip\n{\\footnotesize\\raggedright\n"
                   + "\\\\\n".join(lines) + "\\par}\n")


def _split(reason: object) -> list[str]:
    return [r for r in str(reason).split("; ") if r] if isinstance(reason, str) else []


def _table(caption: str, label: str, spec: str, head: list[str], rows: list[list[str]],
           notes: str) -> str:
    body = "\n".join(" & ".join(r) + r" \\" for r in rows)
    return ("\\begin{table}[htbp]\n\\centering\n\\small\n"
            f"\\caption{{{escape(caption)}}}\n\\label{{{_label(label)}}}\n"
            f"\\begin{{tabular}}{{{spec}}}\n\\toprule\n" + " & ".join(head) + r" \\" + "\n"
            "\\midrule\n" + body + "\n\\bottomrule\n\\end{tabular}\n" + notes
            + "\\end{table}\n")


def methods_table(scale: pd.DataFrame, question: str, caption: str) -> str:
    """Methods of one question: JOD, its 95 % bootstrap interval and BT (in JOD)."""
    s = scale.sort_values(["component", "jod"] if "component" in scale else ["jod"],
                          ascending=[True, False] if "component" in scale else [False])
    d = decimals((s["jod_high"] - s["jod_low"]) / 2)
    several = "component" in s and s["component"].nunique() > 1
    marks, notes = _notes([_split(getattr(r, "reason", "")) for r in s.itertuples()])
    rows = []
    for r, mark in zip(s.itertuples(), marks, strict=True):
        row = [escape(r.condition) + mark, fmt(r.jod, d), _interval(r.jod_low, r.jod_high, d),
               fmt(r.bt_jod, d)]
        rows.append(([str(r.component)] if several else []) + row)
    head = (["Part"] if several else []) + ["Method", "JOD", r"95\,\% CI", "BT (JOD)"]
    spec = ("c" if several else "") + "lrcr"
    return _table(caption, f"tab:methods-{question}", spec, head, rows, notes)


def pairs_table(pairs: pd.DataFrame, dependence: pd.DataFrame | None, question: str,
                caption: str) -> str:
    """Pairwise preferences of one question: k/n, rate with Wilson interval, exact p, Holm,
    and the dependence-aware p (its method in the notes)."""
    g = pairs[pairs["question"] == question]
    dep = (dependence.set_index(["method_A", "method_B"]) if dependence is not None
           and len(dependence) else None)
    cells, reasons = [], []
    for r in g.itertuples():
        why = _split(r.reason)
        p_dep = np.nan
        if dep is not None and (r.method_A, r.method_B) in dep.index:
            row = dep.loc[(r.method_A, r.method_B)]
            p_dep = float(row["p"])
            why.append(f"p_dep: {row['method']}")
            skip = ("variance components", "crossed", "separation", "quasi-separation")
            why += [x for x in _split(row["reason"]) if not x.startswith(skip)]
        reasons.append(why)
        rate = f"{fmt(r.rate, 2)} {_interval(r.wilson_low, r.wilson_high, 2)}"
        cells.append([f"{escape(r.method_A)} vs {escape(r.method_B)}", f"{r.k}/{r.n}", rate,
                      fmt_p(r.p_exact), fmt_p(r.p_holm), fmt_p(p_dep)])
    marks, notes = _notes(reasons)
    for c, mark in zip(cells, marks, strict=True):
        c[0] += mark
    head = ["Pair (A vs B)", "$k/n$", r"Rate A [95\,\% CI]", "$p$", r"$p_\mathrm{Holm}$",
            r"$p_\mathrm{dep}$"]
    return _table(caption, f"tab:pairs-{question}", "lrlrrr", head, cells, notes)


def main_tex(title: str, tables: list[str], figures: list[tuple[str, str]]) -> str:
    """A document that inputs every table file and includes every figure (PDF, caption)."""
    parts = [f"\\input{{{Path(t).stem}}}" for t in tables]
    for path, cap in figures:
        parts.append("\\begin{figure}[htbp]\n\\centering\n"
                     f"\\includegraphics[width=0.9\\linewidth]{{{Path(path).name}}}\n"
                     f"\\caption{{{escape(cap)}}}\n"
                     f"\\label{{{_label('fig:' + Path(path).stem)}}}\n"
                     "\\end{figure}")
    return ("\\documentclass{article}\n\\usepackage[utf8]{inputenc}\n"
            "\\usepackage[margin=2cm]{geometry}\n\\usepackage{booktabs}\n"
            "\\usepackage{graphicx}\n\\begin{document}\n"
            f"\\section*{{{escape(title)}}}\n" + "\n\n".join(parts)
            + "\n\\clearpage\n\\end{document}\n")
