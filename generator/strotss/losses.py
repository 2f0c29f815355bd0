"""STROTSS loss terms (docs/methods-strotss.md; official ``contextual_loss.py``,
``stylize_objectives.gen_remd_dp_objective_guided``).

Each term has a plain reference form (``*_reference``: the formula as written, dense,
autograd) and the fast form the optimiser uses. The fast forms change no value: the
relaxed-EMD minima are found on a matrix computed without autograd, and the chosen entries
are recomputed with autograd, so the backward costs O((n + m)·d) instead of a second dense
n×m×d product (the gradient of a minimum reaches only its argmin, as in autograd's own
``min`` backward). The style mean, covariance and unit vectors are computed once per scale
(:class:`StyleStats`); the output covariance uses a custom symmetric backward.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from stylestudy.generator.encoder import covariance

__all__ = ["TERMS", "YUV", "StyleStats", "to_yuv", "cosine_cost", "palette_cost", "remd_from_cost",
           "pair_cosine", "remd_cosine", "remd_palette", "moment_loss", "moment_loss_reference",
           "self_similarity_loss", "combine"]

#: the four terms of the objective, in the order of :func:`combine`'s arguments (the names of
#: the ablation switches: content ℓ_c, relaxed EMD ℓ_r, moments ℓ_m, palette ℓ_p)
TERMS = ("content", "remd", "moment", "palette")

#: ``utils.C``: orthonormal rotation, first axis luminance/√3 (called "YUV" in the code)
YUV = torch.tensor([[0.577350, 0.577350, 0.577350],
                    [-0.577350, 0.788675, -0.211325],
                    [-0.577350, -0.211325, 0.788675]], dtype=torch.float32)


#: floor of a vector norm in cosine distances: only an all-zero vector (a pure black pixel in
#: the palette term) reaches it, where the official 0/0 gives NaN; here D = 1 there
NORM_FLOOR = 1e-12


def _norm(x: torch.Tensor, keepdim: bool = False) -> torch.Tensor:
    return torch.sqrt((x ** 2).sum(1, keepdim=keepdim).clamp_min(NORM_FLOOR ** 2))


def cosine_cost(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """D_ij = 1 − x_i·y_j / (‖x_i‖‖y_j‖) (``pairwise_distances_cos``)."""
    xn = _norm(x, keepdim=True)
    yn = _norm(y).unsqueeze(0)
    return 1.0 - x @ y.t() / xn / yn


def palette_cost(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """P_ij = D(x_i, y_j) + sqrt(clamp(‖x_i − y_j‖², 1e-5, 1e5) / 3) on YUV-rotated RGB.

    ``pairwise_distances_sq_l2`` (clamp, then divide by the dimension); the squared
    distance is ‖x‖² + ‖y‖² − 2x·y as in the official code.
    """
    sq = (x ** 2).sum(1, keepdim=True) + (y ** 2).sum(1).unsqueeze(0) - 2.0 * x @ y.t()
    return cosine_cost(x, y) + torch.sqrt(torch.clamp(sq, 1e-5, 1e5) / x.shape[1])


def pair_cosine(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Row-wise cosine distance 1 − x_k·y_k / (‖x_k‖‖y_k‖) (a 1×1 ``pairwise_distances_cos``)."""
    return 1.0 - (x * y).sum(1) / _norm(x) / _norm(y)


def _pair_palette(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Row-wise palette cost between paired rows x_k, y_k."""
    dot = (x * y).sum(1)
    cos = 1.0 - dot / _norm(x) / _norm(y)
    sq = (x ** 2).sum(1) + (y ** 2).sum(1) - 2.0 * dot
    return cos + torch.sqrt(torch.clamp(sq, 1e-5, 1e5) / x.shape[1])


def remd_from_cost(m: torch.Tensor) -> torch.Tensor:
    """ℓ = max(mean_i min_j M_ij, mean_j min_i M_ij) (``remd_loss``)."""
    return torch.max(m.min(1)[0].mean(), m.min(0)[0].mean())


def to_yuv(rgb: torch.Tensor) -> torch.Tensor:
    """n×3 RGB rows → n×3 rows of C·rgb (``utils.rgb_to_yuv_pc``)."""
    return rgb @ YUV.to(rgb).t()


@dataclass
class StyleStats:
    """Per-scale constants of the style samples S (m × 2179).

    The relaxed EMD runs over the distinct samples (``unit``, ``yuv``) with each one's share
    of the m draws (``weight``, summing to 1): its row minima are the same, and its column
    mean over all m samples equals the weighted mean over distinct ones. The moments use all
    m samples, as the official code does.
    """

    mean: torch.Tensor
    cov: torch.Tensor
    unit: torch.Tensor
    yuv: torch.Tensor
    weight: torch.Tensor
    feats: torch.Tensor

    @classmethod
    def from_features(cls, s: torch.Tensor, keys: object = None) -> StyleStats:
        """``keys``: one hashable-comparable row per sample (e.g. its pixel position) that
        identifies duplicates; without it every sample counts as distinct."""
        import numpy as np

        s = s.detach()
        if keys is None:
            first = np.arange(s.shape[0])
            counts = np.ones(s.shape[0])
        else:
            _, first, counts = np.unique(np.asarray(keys), axis=0, return_index=True,
                                         return_counts=True)
        idx = torch.from_numpy(first).to(s.device)
        u = s.index_select(0, idx)
        return cls(mean=s.mean(0, keepdim=True), cov=covariance(s),
                   unit=u / _norm(u, keepdim=True), yuv=to_yuv(u[:, :3]),
                   weight=torch.from_numpy(counts / counts.sum()).to(s),
                   feats=s)


class _RemdMin(torch.autograd.Function):
    """(mean_i min_j M_ij, Σ_j w_j min_i M_ij) for M = 1 − U·Ŝᵀ; exact sparse backward."""

    @staticmethod
    def forward(ctx, xu: torch.Tensor, s_unit: torch.Tensor, weight: torch.Tensor):
        sim = xu @ s_unit.t()
        rmax, j = sim.max(1)
        cmax, i = sim.max(0)
        ctx.save_for_backward(s_unit, weight, j, i)
        return 1.0 - rmax.mean(), (weight * (1.0 - cmax)).sum()

    @staticmethod
    def backward(ctx, g_rows: torch.Tensor, g_cols: torch.Tensor):
        s_unit, weight, j, i = ctx.saved_tensors
        grad = s_unit.index_select(0, j).mul_(-g_rows / j.numel())
        if float(g_cols) != 0.0:
            order = torch.argsort(i, stable=True)  # CPU index_add_ is fast on sorted indices
            src = s_unit.index_select(0, order) * (-g_cols * weight[order]).unsqueeze(1)
            grad.index_add_(0, i.index_select(0, order), src)
        return grad, None, None


def remd_cosine(x: torch.Tensor, s_unit: torch.Tensor, weight: torch.Tensor | None = None
                ) -> torch.Tensor:
    """Relaxed EMD with cosine cost, equal to ``remd_from_cost(cosine_cost(x, S))``.

    ``s_unit``: unit-norm style rows; ``weight``: each row's share of the samples
    (default uniform).
    """
    if weight is None:
        weight = torch.full((s_unit.shape[0],), 1.0 / s_unit.shape[0]).to(s_unit)
    xu = x / _norm(x, keepdim=True)
    rows, cols = _RemdMin.apply(xu, s_unit, weight)
    return torch.max(rows, cols)


def remd_palette(x_rgb: torch.Tensor, s_yuv: torch.Tensor, weight: torch.Tensor | None = None
                 ) -> torch.Tensor:
    """Relaxed EMD of the palette cost, equal to ``remd_from_cost(palette_cost(...))``."""
    if weight is None:
        weight = torch.full((s_yuv.shape[0],), 1.0 / s_yuv.shape[0]).to(s_yuv)
    xy = to_yuv(x_rgb)
    with torch.no_grad():
        m = _palette_cost_fast(xy, s_yuv)
        j = m.argmin(1)
        i = m.argmin(0)
    rows = _pair_palette(xy, s_yuv.index_select(0, j)).mean()
    cols = (_pair_palette(xy.index_select(0, i), s_yuv) * weight).sum()
    return torch.max(rows, cols)


def _palette_cost_fast(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """:func:`palette_cost` with in-place arithmetic (no autograd)."""
    x2 = (x ** 2).sum(1, keepdim=True)
    y2 = (y ** 2).sum(1).unsqueeze(0)
    dot = x @ y.t()
    cos = dot / torch.sqrt(x2.clamp_min(NORM_FLOOR ** 2))
    cos.div_(torch.sqrt(y2.clamp_min(NORM_FLOOR ** 2))).neg_().add_(1.0)
    sq = dot.mul_(-2.0).add_(x2).add_(y2)
    return cos.add_(sq.clamp_(1e-5, 1e5).div_(x.shape[1]).sqrt_())


class _CovAbsDiff(torch.autograd.Function):
    """mean |Xcᵀ Xc / n − Σ_S| with the symmetric backward (2/n)·Xc·sign(·)/d²."""

    @staticmethod
    def forward(ctx, xc: torch.Tensor, cov_s: torch.Tensor) -> torch.Tensor:
        diff = torch.addmm(cov_s, xc.t(), xc, beta=-1.0, alpha=1.0 / xc.shape[0])
        sign = torch.sign(diff)
        ctx.save_for_backward(xc, sign)
        return diff.mul_(sign).mean()

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        xc, sign = ctx.saved_tensors
        scale = grad * 2.0 / (xc.shape[0] * sign.numel())
        return (xc @ sign) * scale, None


def moment_loss(x: torch.Tensor, mean_s: torch.Tensor, cov_s: torch.Tensor) -> torch.Tensor:
    """ℓ_m = mean_k |μ_X − μ_S| + mean_kl |Σ_X − Σ_S|, biased covariances (``moment_loss``)."""
    mu = x.mean(0, keepdim=True)
    return (mu - mean_s).abs().mean() + _CovAbsDiff.apply(x - mu, cov_s)


def moment_loss_reference(x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """``moment_loss`` as written: both covariances from the samples, autograd."""
    mx, ms = x.mean(0, keepdim=True), s.mean(0, keepdim=True)
    return (mx - ms).abs().mean() + (covariance(x) - covariance(s)).abs().mean()


class _SymGram(torch.autograd.Function):
    """U·Uᵀ with the one-product backward (G + Gᵀ)·U."""

    @staticmethod
    def forward(ctx, u: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(u)
        return u @ u.t()

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (u,) = ctx.saved_tensors
        return (grad + grad.t()) @ u


def self_similarity_loss(x: torch.Tensor, c: torch.Tensor, times_n: bool = True
                         ) -> torch.Tensor:
    """ℓ_c = mean |Ã^X − Ã^C| (× n in the official code), columns of D normalised to sum 1.

    ``dp_loss``: A_ij = D(x_i, x_j), Ã_ij = A_ij / Σ_i' A_i'j; the official code returns
    ``mean() · n`` (= (1/n) Σ_ij); the paper form (``times_n=False``) is the plain mean.
    """
    xu = x / _norm(x, keepdim=True)
    ax = 1.0 - _SymGram.apply(xu)
    ax = ax / ax.sum(0, keepdim=True)
    with torch.no_grad():
        ac = cosine_cost(c, c)
        ac = ac / ac.sum(0, keepdim=True)
    d = (ax - ac).abs().mean()
    return d * x.shape[0] if times_n else d


def combine(content: torch.Tensor | None, remd: torch.Tensor | None,
            moment: torch.Tensor | None, palette: torch.Tensor | None, alpha: float,
            variant: str = "official") -> torch.Tensor:
    """Total loss of one region; a term given as ``None`` is switched off (it adds 0, the
    normaliser and the other terms' weights stay as they are).

    official: [α ℓ_c + ℓ_r + ℓ_m + ℓ_p / max(α, 1)] / (α + 2)
    (moment_weight 1, style_weight 1 + moment_weight = 2; ``gen_remd_dp_objective_guided``).
    paper: (α ℓ_C + ℓ_m + ℓ_r + α⁻¹ ℓ_p) / (2 + α + α⁻¹) (arXiv 1904.12785 §2; content term
    without × n, passed in by the caller).
    """
    c = 0.0 if content is None else content
    r = 0.0 if remd is None else remd
    m = 0.0 if moment is None else moment
    p = 0.0 if palette is None else palette
    if variant == "paper":
        return (alpha * c + r + m + p / alpha) / (2.0 + alpha + 1.0 / alpha)
    return (alpha * c + r + m + p / max(alpha, 1.0)) / (alpha + 2.0)
