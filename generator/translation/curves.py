"""Loss curves of training runs, from the per-iteration log every checkpoint keeps."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["plot_curves", "smooth"]


def smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average (the first points average what exists so far)."""
    c = np.cumsum(np.insert(np.asarray(values, float), 0, 0.0))
    idx = np.arange(1, len(values) + 1)
    lo = np.maximum(idx - window, 0)
    return (c[idx] - c[lo]) / (idx - lo)


def plot_curves(runs: dict[str, list[dict[str, Any]]], out: str | os.PathLike,
                window: int = 20) -> Path:
    """One panel per run: each logged term against the iteration (stages laid end to end,
    a dashed line where a stage starts), moving average over ``window`` iterations, log
    scale. ``runs`` maps a title to its checkpoint's ``log``; writes PNG, SVG or PDF."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = min(4, len(runs))
    rows = -(-len(runs) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
    for ax, (title, log) in zip(axes.flat, runs.items(), strict=False):
        x = np.arange(len(log))
        keys = [k for k in dict.fromkeys(k for e in log for k in e) if k not in ("stage", "it")]
        for key in keys:
            have = np.array([key in e for e in log])
            vals = np.array([abs(e.get(key, np.nan)) for e in log])
            if have.any():
                ax.plot(x[have], smooth(vals[have], window), lw=0.9, label=key)
        for i in range(1, len(log)):
            if log[i]["stage"] != log[i - 1]["stage"]:
                ax.axvline(i, ls="--", lw=0.7, color="grey")
        ax.set_yscale("log")
        ax.set_title(title, fontsize=8)
        ax.set_xlabel("iteration", fontsize=7)
        ax.tick_params(labelsize=6)
        ax.legend(fontsize=5, ncol=2)
    for ax in list(axes.flat)[len(runs):]:
        ax.set_visible(False)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {".svg": {"Date": None}, ".pdf": {"CreationDate": None}}.get(out.suffix, {})
    with plt.rc_context({"svg.fonttype": "none"}):  # text stays text in SVG
        fig.savefig(out, dpi=110, metadata=meta)
    plt.close(fig)
    return out
