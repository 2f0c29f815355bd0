"""Report figures (matplotlib, Agg backend): built as figures, written as PDF and SVG files
beside report.html, and inlined in it as SVG.

- :func:`jod_figure`: JOD per condition with its bootstrap interval; an interval whose
  distance rests on separated pairs (set by the separation prior) is drawn hollow and
  dashed, a condition without an interval as a bare point; one panel row per component.
- :func:`preference_figure`: share choosing A per pair with the Wilson interval; pairs whose
  choices all went one way are hatched.
- :func:`trade_off_figure`: JOD content (x) against JOD style (y), one curve per method
  through its settings in knob order (``stylestudy.analysis.tradeoff``), labels placed so
  that no two overlap.
- :func:`metric_agreement_figure`: 2AFC score per metric beside the human ceilings.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from stylestudy.analysis.tradeoff import SWEEP_COLUMNS, parse_condition, sweeps

__all__ = ["jod_figure", "label_boxes", "metric_agreement_figure", "parse_condition",
           "preference_figure", "save", "svg_text", "trade_off_figure"]

SEPARATED = "separated from"


def _figure(w: float, h: float):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    plt.rcParams["svg.hashsalt"] = "stylestudy"  # deterministic ids
    plt.rcParams["svg.fonttype"] = "none"        # text stays text (smaller, searchable)
    # 72 dpi, the resolution of the PDF and SVG backends: text laid out for the bounding
    # box is laid out once for all three passes (matplotlib caches it per dpi)
    return plt.subplots(figsize=(w, h), dpi=72)


def _tight(fig):
    """The figure's tight bounding box (inches) with a small pad, computed once per figure."""
    from matplotlib.transforms import Bbox

    fig.draw_without_rendering()
    box = fig.get_tightbbox(fig.canvas.get_renderer())
    return Bbox.from_extents(box.x0 - 0.1, box.y0 - 0.1, box.x1 + 0.1, box.y1 + 0.1)


def svg_text(fig, bbox=None) -> str:
    """The figure as an inline ``<svg>`` element (no XML header, no creator/date block)."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches=bbox if bbox is not None else _tight(fig),
                metadata={"Date": None})
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    if "<metadata>" in text:
        text = text[:text.index("<metadata>")] + text[text.index("</metadata>") + 11:]
    return text


def save(fig, out: Path, stem: str) -> tuple[str, dict[str, Path]]:
    """Write ``stem.pdf`` and ``stem.svg`` into ``out``; return the inline SVG and the paths."""
    import matplotlib.pyplot as plt

    bbox = _tight(fig)
    svg = svg_text(fig, bbox)
    paths = {"pdf": out / f"{stem}.pdf", "svg": out / f"{stem}.svg"}
    paths["svg"].write_text('<?xml version="1.0" encoding="utf-8" standalone="no"?>\n' + svg,
                            encoding="utf-8")
    fig.savefig(paths["pdf"], format="pdf", bbox_inches=bbox,
                metadata={"CreationDate": None, "ModDate": None})
    plt.close(fig)
    return svg, paths


def _plain(text: object) -> str:
    """Data text shown as is (a '$' in a method name would start matplotlib's mathtext)."""
    return str(text).replace("$", r"\$")


def _err(centre, low, high) -> list[np.ndarray]:
    """Error-bar extents, never negative (a bound can round just inside its estimate)."""
    centre, low, high = (np.atleast_1d(np.asarray(v, float)) for v in (centre, low, high))
    return [np.clip(centre - low, 0, None), np.clip(high - centre, 0, None)]


def _reasons(table: pd.DataFrame) -> pd.Series:
    if "reason" in table:
        return table["reason"].fillna("").astype(str)
    return pd.Series("", index=table.index)


def preference_figure(pairs: pd.DataFrame, question: str):
    """Horizontal bars: share choosing A per pair, Wilson 95% interval, 50% line."""
    g = pairs[pairs["question"] == question]
    fig, ax = _figure(6, 0.45 * len(g) + 1.2)
    y = np.arange(len(g))
    whole = (((g["k"] == 0) | (g["k"] == g["n"])).to_numpy() if "k" in g
             else np.zeros(len(g), bool))
    bars = ax.barh(y, g["rate"], color="#7aa6c2", edgecolor="#2a6f97", linewidth=0.5)
    for bar, sep in zip(bars, whole, strict=True):
        if sep:
            bar.set_hatch("///")
            bar.set_facecolor("#c9dbe6")
    ax.errorbar(g["rate"], y, xerr=_err(g["rate"], g["wilson_low"], g["wilson_high"]),
                fmt="none", ecolor="k", capsize=3)
    ax.axvline(0.5, color="grey", ls="--", lw=1)
    ax.set_yticks(y, [_plain(f"{a} vs {b}")
                      for a, b in zip(g["method_A"], g["method_B"], strict=True)])
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    label = f"share choosing the first method ({question}), Wilson 95% CI"
    if whole.any():
        label += "\nhatched: one side always chosen (separation)"
    ax.set_xlabel(label)
    return fig


def jod_figure(scale: pd.DataFrame, question: str):
    """JOD per condition with the bootstrap interval; prior-bound intervals marked."""
    s = scale.sort_values(["component", "jod"] if "component" in scale else ["jod"])
    fig, ax = _figure(6, 0.4 * len(s) + 1.2)
    y = np.arange(len(s))
    reasons = _reasons(s).to_numpy()
    bound = np.array([SEPARATED in r for r in reasons])
    has = s[["jod_low", "jod_high"]].notna().all(axis=1).to_numpy()
    if (~bound & has).any():
        sel = ~bound & has
        ax.errorbar(s["jod"][sel], y[sel], capsize=3, fmt="o", color="#2a6f97", xerr=_err(
            s["jod"][sel], s["jod_low"][sel], s["jod_high"][sel]))
    if (bound & has).any():
        sel = bound & has
        bars = ax.errorbar(s["jod"][sel], y[sel], capsize=3, fmt="o", color="#b5543c",
                           mfc="white", label="distance set by the separation prior",
                           xerr=_err(s["jod"][sel], s["jod_low"][sel], s["jod_high"][sel]))
        bars[2][0].set_linestyle("--")
    if (~has).any():
        ax.plot(s["jod"][~has], y[~has], "x", color="k", label="no interval")
    labels = [_plain(c) for c in s["condition"]]
    if "component" in s and s["component"].nunique() > 1:
        labels = [f"{c} (component {k})" for c, k in zip(labels, s["component"], strict=True)]
    ax.set_yticks(y, labels)
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_xlabel(f"JOD ({question}); 1 JOD = 75% preference; bootstrap 95% CI")
    if bound.any() or (~has).any():
        ax.legend(fontsize=8, loc="best")
    return fig


def _overlaps(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def _place_labels(ax, xs, ys, texts, colours, fontsize: float = 7.5) -> list:
    """Annotate each point with its text at the first of a ring of offsets where the label
    overlaps no other label, no marker and stays inside the axes (greedy)."""
    from matplotlib.transforms import Bbox

    fig = ax.figure
    fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    pts = ax.transData.transform(np.column_stack([xs, ys]))
    pad = 4 * fig.dpi / 72
    markers = [Bbox.from_extents(px - pad, py - pad, px + pad, py + pad) for px, py in pts]
    placed: list = []
    notes = []
    rings = [(r, a) for r in (6, 11, 17, 25, 35, 48, 64) for a in range(0, 360, 30)]
    for x, y, text, colour in zip(xs, ys, texts, colours, strict=True):
        ann = None
        for r, a in rings:
            dx, dy = r * np.cos(np.radians(a)), r * np.sin(np.radians(a))
            ha = "left" if dx > 1 else "right" if dx < -1 else "center"
            va = "bottom" if dy > 1 else "top" if dy < -1 else "center"
            ann = ax.annotate(text, (x, y), xytext=(dx, dy), textcoords="offset points",
                              ha=ha, va=va, fontsize=fontsize, color=colour,
                              bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none",
                                    "alpha": 0.8},
                              arrowprops={"arrowstyle": "-", "lw": 0.5, "color": "grey"}
                              if r > 17 else None)
            box = ann.get_window_extent(renderer)
            if (frame.contains(box.x0, box.y0) and frame.contains(box.x1, box.y1)
                    and not any(_overlaps(box, b) for b in placed + markers)):
                break
            ann.remove()
            ann = None
        if ann is None:  # nowhere free: leave the point unlabelled rather than overlap
            continue
        placed.append(ann.get_window_extent(renderer))
        notes.append(ann)
    return notes


def label_boxes(fig) -> list:
    """Display-space boxes of the figure's point labels (for checking overlaps)."""
    fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer()
    return [t.get_window_extent(renderer) for ax in fig.axes for t in ax.texts]


def trade_off_figure(trade: pd.DataFrame):
    """JOD content preservation (x) against JOD stylization (y) with bootstrap intervals:
    one curve per method through its settings in knob order, each point labelled with its
    setting (STROTSS's figure). Uses the table's method/knob/setting/order columns
    (:func:`stylestudy.analysis.tradeoff.sweeps`), parsed from labels when absent."""
    import matplotlib.pyplot as plt

    t = trade.copy()
    if not set(SWEEP_COLUMNS) <= set(t.columns):
        t = t.drop(columns=[c for c in SWEEP_COLUMNS if c in t.columns]).merge(
            sweeps(list(t["condition"])), on="condition")
    t["setting"] = t["setting"].fillna("").astype(str)
    t["knob"] = t["knob"].fillna("").astype(str)
    fig, ax = _figure(6.5, 5)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    xs, ys, texts, tints = [], [], [], []
    for n, (method, g) in enumerate(t.groupby("method", sort=True)):
        g = g.sort_values("order")
        colour = colours[n % len(colours)]
        knob = g["knob"].iloc[0]
        ax.errorbar(g["jod_content"].to_numpy(float), g["jod_style"].to_numpy(float),
                    xerr=_err(g["jod_content"], g["jod_low_content"], g["jod_high_content"]),
                    yerr=_err(g["jod_style"], g["jod_low_style"], g["jod_high_style"]),
                    fmt="o-" if len(g) > 1 else "o", capsize=2, color=colour, lw=1.2,
                    elinewidth=0.6, alpha=0.9,
                    label=_plain(f"{method} ({knob})" if knob and len(g) > 1 else method))
        for r in g.itertuples():
            xs.append(r.jod_content)
            ys.append(r.jod_style)
            texts.append(_plain(r.setting if knob and len(g) > 1 else r.condition))
            tints.append(colour)
    ax.set_xlabel("content preservation (JOD)")
    ax.set_ylabel("stylization (JOD)")
    ax.set_title("content–style trade-off")
    ax.margins(0.18)
    ax.legend(fontsize=8, loc="best")
    _place_labels(ax, np.asarray(xs, float), np.asarray(ys, float), texts, tints)
    return fig


def metric_agreement_figure(table: pd.DataFrame, question: str):
    """2AFC score per metric of one question with its bootstrap CI, beside the ceilings."""
    fig, ax = _figure(5.5, 0.5 * len(table) + 1.2)
    y = np.arange(len(table))
    s = table["score_2afc"]
    ax.errorbar(s, y, xerr=_err(s, table["ci_low"], table["ci_high"]), fmt="o", capsize=3)
    ax.set_yticks(y, [_plain(m) for m in table["metric"]])
    h = table["human_ceiling"].iloc[0]
    o = table["majority_ceiling"].iloc[0]
    if np.isfinite(h):
        ax.axvline(h, color="green", ls="--", lw=1, label=f"human LOO ceiling {h:.3f}")
    ax.axvline(o, color="purple", ls=":", lw=1, label=f"majority ceiling {o:.3f}")
    ax.axvline(0.5, color="grey", lw=0.8)
    ax.set_xlabel(f"2AFC score ({question} question)")
    ax.legend(fontsize=8, loc="lower left")
    return fig
