"""Report figures as inline SVG strings (matplotlib, Agg backend, no external files)."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

__all__ = ["jod_plot", "metric_agreement_plot", "preference_plot", "trade_off_plot"]


def _svg(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    if "<metadata>" in text:  # creator/date block: not needed, not deterministic
        text = text[:text.index("<metadata>")] + text[text.index("</metadata>") + 11:]
    return text


def _figure(w: float, h: float):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    plt.rcParams["svg.hashsalt"] = "stylestudy"  # deterministic ids
    return plt.subplots(figsize=(w, h))


def _err(centre, low, high) -> list[np.ndarray]:
    """Error-bar extents, never negative: a percentile bootstrap interval need not contain
    the point estimate, and an interval's bound can round just inside it."""
    centre, low, high = (np.atleast_1d(np.asarray(v, float)) for v in (centre, low, high))
    return [np.clip(centre - low, 0, None), np.clip(high - centre, 0, None)]


def preference_plot(pairs: pd.DataFrame, question: str) -> str:
    """Horizontal bars: share choosing A per pair, Wilson 95% interval, 50% line."""
    g = pairs[pairs["question"] == question]
    fig, ax = _figure(6, 0.45 * len(g) + 1)
    y = np.arange(len(g))
    ax.barh(y, g["rate"], color="#7aa6c2")
    ax.errorbar(g["rate"], y, xerr=_err(g["rate"], g["wilson_low"], g["wilson_high"]),
                fmt="none", ecolor="k", capsize=3)
    ax.axvline(0.5, color="grey", ls="--", lw=1)
    ax.set_yticks(y, [f"{a} vs {b}" for a, b in zip(g["method_A"], g["method_B"], strict=True)])
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel(f"share choosing the first method ({question}), Wilson 95% CI")
    return _svg(fig)


def jod_plot(scale: pd.DataFrame, question: str) -> str:
    """JOD per condition with the bootstrap percentile interval."""
    s = scale.sort_values("jod")
    fig, ax = _figure(6, 0.4 * len(s) + 1)
    y = np.arange(len(s))
    ax.errorbar(s["jod"], y, xerr=_err(s["jod"], s["jod_low"], s["jod_high"]),
                fmt="o", capsize=3, color="#2a6f97")
    ax.set_yticks(y, s["condition"])
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_xlabel(f"JOD ({question}); 1 JOD = 75% preference; bootstrap 95% CI")
    return _svg(fig)


def trade_off_plot(trade: pd.DataFrame) -> str:
    """JOD content preservation against JOD stylization, one point per condition (STROTSS)."""
    fig, ax = _figure(5.5, 4.5)
    for r in trade.itertuples():
        ax.errorbar(r.jod_style, r.jod_content,
                    xerr=_err(r.jod_style, r.jod_low_style, r.jod_high_style),
                    yerr=_err(r.jod_content, r.jod_low_content, r.jod_high_content),
                    fmt="o", capsize=2)
        ax.annotate(r.condition, (r.jod_style, r.jod_content), textcoords="offset points",
                    xytext=(4, 4), fontsize=8)
    ax.set_xlabel("stylization (JOD)")
    ax.set_ylabel("content preservation (JOD)")
    ax.set_title("content–style trade-off")
    return _svg(fig)


def metric_agreement_plot(table: pd.DataFrame, question: str) -> str:
    """2AFC score per metric of one question with its bootstrap CI, beside the ceilings."""
    fig, ax = _figure(5.5, 0.5 * len(table) + 1.2)
    y = np.arange(len(table))
    s = table["score_2afc"]
    ax.errorbar(s, y, xerr=_err(s, table["ci_low"], table["ci_high"]), fmt="o", capsize=3)
    ax.set_yticks(y, table["metric"])
    h = table["human_ceiling"].iloc[0]
    o = table["majority_ceiling"].iloc[0]
    ax.axvline(h, color="green", ls="--", lw=1, label=f"human LOO ceiling {h:.3f}")
    ax.axvline(o, color="purple", ls=":", lw=1, label=f"majority ceiling {o:.3f}")
    ax.axvline(0.5, color="grey", lw=0.8)
    ax.set_xlabel(f"2AFC score ({question} question)")
    ax.legend(fontsize=8, loc="lower left")
    return _svg(fig)
