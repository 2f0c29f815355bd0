"""What every reported estimate must satisfy, and the reasons a row carries when it is replaced
(docs/analysis.md, "When an estimate is replaced").

- A two-sided p-value from n binary judgments is never below 2·0.5ⁿ (the exact binomial p of
  n out of n) nor above 1; a smaller one means a standard error has collapsed.
- An interval contains its own estimate; a bootstrap percentile interval that misses it is
  widened to reach it, and the row says so.
- Separation (Albert & Anderson 1984): the logit maximum-likelihood estimate exists only when
  no direction of the coefficients orders every judgment; the linear programme of Konis
  (2007) finds such a direction.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["contain", "join", "p_floor", "p_ok", "separated", "side_separation"]


def p_floor(n: int) -> float:
    """2·0.5ⁿ: the smallest two-sided p-value that n binary judgments can give (1 for n ≤ 1)."""
    return 1.0 if n <= 1 else float(min(1.0, 2.0 * 0.5 ** n))


def p_ok(p: float, n: int) -> bool:
    """Whether ``p`` is a number in [2·0.5ⁿ, 1] (with rounding slack)."""
    return bool(np.isfinite(p)) and p_floor(n) * (1 - 1e-9) <= p <= 1 + 1e-12


def contain(estimate: float, low: float, high: float) -> tuple[float, float, bool]:
    """``(low, high)`` widened to contain ``estimate``; and whether it had to be."""
    if not (math.isfinite(estimate) and math.isfinite(low) and math.isfinite(high)):
        return low, high, False
    if low <= estimate <= high:
        return low, high, False
    return min(low, estimate), max(high, estimate), True


def join(*reasons: str) -> str:
    """One reason cell: the non-empty parts, in order, without repeats."""
    out: list[str] = []
    for r in reasons:
        if r and r not in out:
            out.append(r)
    return "; ".join(out)


def separated(X: np.ndarray, y: np.ndarray) -> bool:
    """Whether the binary outcomes ``y`` are (quasi-)completely separated by the columns of
    ``X`` (full column rank assumed): some β ≠ 0 has (2y − 1)·xβ ≥ 0 for every row.

    Konis (2007): maximise Σ (2y − 1)·xβ subject to those constraints and |β_j| ≤ 1; the
    optimum is positive exactly when such a β exists.
    """
    from scipy.optimize import linprog

    X = np.asarray(X, float)
    s = 2.0 * np.asarray(y, float) - 1.0
    A = s[:, None] * X
    res = linprog(-A.sum(axis=0), A_ub=-A, b_ub=np.zeros(len(A)),
                  bounds=[(-1, 1)] * X.shape[1], method="highs")
    return bool(res.status == 0 and -res.fun > 1e-9 * len(A))


def side_separation(y: np.ndarray, side: np.ndarray) -> str:
    """The reason text when the position term separates a pair's judgments, else ''.

    ``side``: +1 when A was on the left, −1 right, 0 unknown; ``y``: 1 when A was chosen.
    Complete separation of the intercept (A always or never chosen) is reported by the
    caller; this is the quasi-complete kind that only the position term creates.
    """
    y = np.asarray(y, float)
    side = np.asarray(side, float)
    if y.min() == y.max() or not ((side > 0).any() and (side < 0).any()):
        return ""
    if not separated(np.column_stack([np.ones(len(y)), side]), y):
        return ""
    parts = []
    for mark, name in ((1, "left"), (-1, "right")):
        g = y[side == mark]
        if len(g) and g.min() == g.max():
            parts.append(f"A {'always' if g[0] else 'never'} chosen when on the {name}")
    return "quasi-separation by position (" + (", ".join(parts) or "position term") + ")"
