"""Bradley–Terry cross-check with choix 0.4.1 (docs/analysis.md, "JOD scale").

One pinned solver and α: ``choix.opt_pairwise(alpha=1e-4)`` (a Gaussian prior with variance
1/α keeps unanimous pairs finite; regularised results are not comparable across choix
solvers). θ is centred to mean 0 and converted to JOD units by Δ_JOD = σ·Φ⁻¹(logistic(Δθ)),
σ = 1.4826, taking the mean-zero condition as the reference.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit
from scipy.stats import norm

from stylestudy.analysis.jod import SIGMA

__all__ = ["ALPHA", "bradley_terry", "bt_to_jod"]

#: the pinned ℓ2 penalty of ``choix.opt_pairwise`` (docs/analysis.md, "JOD scale")
ALPHA = 1e-4


def bradley_terry(D: np.ndarray, alpha: float = ALPHA, tol: float = 1e-5) -> np.ndarray:
    """Mean-zero BT log-strengths θ from a count matrix (D[i, j] = i beat j).

    The penalty makes the optimum unique even where a condition never lost (or never won);
    there the distance is set by α, not by the solver's tolerance ``tol`` (Newton-CG with
    the exact Hessian converges to it).
    """
    import choix

    D = np.asarray(D, dtype=int)
    data = [(i, j) for i, j in zip(*np.nonzero(D), strict=True) for _ in range(D[i, j])]
    theta = choix.opt_pairwise(D.shape[0], data, alpha=alpha, method="Newton-CG", tol=tol)
    return theta - theta.mean()


def bt_to_jod(theta: np.ndarray) -> np.ndarray:
    """σ·Φ⁻¹(logistic(θ_i − mean θ)): each condition against the mean-zero reference, in JOD."""
    theta = np.asarray(theta, float)
    return SIGMA * norm.ppf(expit(theta - theta.mean()))
