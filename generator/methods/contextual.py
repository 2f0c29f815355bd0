"""Contextual style transfer: Mechrez, Talmi, Zelnik-Manor, "The Contextual Loss for Image
Transformation with Non-Aligned Data", ECCV 2018, with the loss as the authors' code
``roimehrez/contextualLoss`` sets it (``CX/CSFlow.py``, ``CX/CX_helper.py``, ``config.py``,
``vgg_model.py``).

CX(I, T) for the output's features I and a target's features T (rows are positions):
centre both by T's mean, normalise each row, d_ij = (1 − cos(I_i, T_j)) / 2,
d̃_ij = d_ij / (min_k d_ik + 1e-5), w_ij = exp((b − d̃_ij) / h), CX_ij = w_ij / Σ_k w_ik,
CX = mean_j max_i CX_ij and the loss is −log CX. Style: relu3_2 and relu4_2 against the
style image; content: relu4_2 against the content image; weights 1, h = 0.5, b = 1; maps
larger than 65 × 65 positions are sampled down to 65² positions. Numbers and sources:
``docs/methods-contextual.md``.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
import torch

from stylestudy.generator.method import Method, Param, Request, register

__all__ = ["STYLE_LAYERS", "CONTENT_LAYER", "contextual_similarity", "contextual_loss",
           "sample_positions"]

#: ``config.CX.feat_layers = {'conv3_2': 1.0, 'conv4_2': 1.0}`` (outputs after the ReLU)
STYLE_LAYERS = ("relu3_2", "relu4_2")
#: ``config.CX.feat_content_layers = {'conv4_2': 1.0}``
CONTENT_LAYER = "relu4_2"
#: ``config.CX.max_sampling_1d_size = 65``
MAX_SAMPLING_1D = 65
#: ``CSFlow.calc_relative_distances``: ``epsilon = 1e-5``
EPSILON = 1e-5
#: L-BFGS history and line search of stylestudy's Gatys (the authors give no optimiser)
LBFGS_HISTORY = 100


def contextual_similarity(i: torch.Tensor, t: torch.Tensor, h: float = 0.5, b: float = 1.0
                          ) -> torch.Tensor:
    """CX(I, T) = mean_j max_i CX_ij for rows I (n_i × C) and T (n_t × C)."""
    mu = t.mean(0, keepdim=True)
    ic, tc = i - mu, t - mu
    ic = ic / ic.norm(dim=1, keepdim=True)
    tc = tc / tc.norm(dim=1, keepdim=True)
    d = (1.0 - ic @ tc.t()) / 2.0
    rel = d / (d.min(1, keepdim=True)[0] + EPSILON)
    w = torch.exp((b - rel) / h)
    cx = w / w.sum(1, keepdim=True)
    return cx.max(0)[0].mean()


def contextual_loss(i: torch.Tensor, t: torch.Tensor, h: float = 0.5, b: float = 1.0
                    ) -> torch.Tensor:
    """−log CX(I, T) (``CSFlow.CX_loss``)."""
    return -torch.log(contextual_similarity(i, t, h, b))


def sample_positions(n: int, rng: np.random.Generator) -> torch.Tensor | None:
    """65² distinct positions out of n (``CX_helper.random_pooling``), or None when n ≤ 65²."""
    k = MAX_SAMPLING_1D ** 2
    if n <= k:
        return None
    return torch.from_numpy(rng.permutation(n)[:k])


def _rows(f: torch.Tensor, idx: torch.Tensor | None) -> torch.Tensor:
    rows = f[0].flatten(1).t()
    return rows if idx is None else rows.index_select(0, idx.to(rows.device))


@register
class Contextual(Method):
    """Style transfer by optimising the contextual loss (VGG19, L-BFGS)."""

    name = "contextual"
    version = "1"
    kind = "optimisation"
    summary = "Contextual loss (Mechrez et al. 2018): VGG19 relu3_2/relu4_2 CX, h 0.5, L-BFGS"
    weights = ("vgg19-caffe-q8",)
    prefers_gpu = True
    params = {
        "h": Param(float, 0.5, "bandwidth h (config.CX.nn_stretch_sigma 0.5)", min=1e-3),
        "content_weight": Param(float, 1.0, "weight of the content CX (config.W.CX_content 1)",
                                min=0.0),
        "style_weight": Param(float, 1.0, "weight of the style CX (config.W.CX 1)", min=0.0),
        "iterations": Param(int, 1000, "L-BFGS iterations (stylestudy's Gatys default; the "
                            "authors' code has no style-transfer driver)", min=1),
        "init": Param(str, "content", "content image or white noise",
                      choices=("content", "noise")),
    }

    def setup(self) -> None:
        self.encoder = self.ctx.encoder("vgg19-caffe-q8", STYLE_LAYERS, pooling="avg")
        self._last: dict[str, Any] = {}

    def run(self, request: Request) -> np.ndarray:
        from stylestudy.generator.methods._tensors import inputs, lbfgs, require_side, to_image

        p = request.params
        dev = torch.device(self.ctx.device)
        content, style = inputs(request.content, request.style, max(request.output_shape), dev)
        require_side(self.name, 8, "relu4_2 is after three 2×2 poolings", content=content.shape,
                     style=style.shape)
        rng = np.random.default_rng(request.seed)
        with torch.no_grad():
            fc, fs = self.encoder(content), self.encoder(style)
        out_n = {k: v.shape[2] * v.shape[3] for k, v in fc.items()}
        # one draw per run keeps the objective fixed for L-BFGS
        x_idx = {k: sample_positions(n, rng) for k, n in out_n.items()}
        style_t = {k: _rows(fs[k], sample_positions(fs[k].shape[2] * fs[k].shape[3], rng))
                   for k in STYLE_LAYERS}
        content_t = _rows(fc[CONTENT_LAYER], x_idx[CONTENT_LAYER])
        if p["init"] == "content":
            x0 = content
        else:
            gen = torch.Generator().manual_seed(request.seed)
            x0 = torch.rand(content.shape, generator=gen).to(dev)
        energy = partial(_energy, self.encoder, style_t=style_t, content_t=content_t,
                         x_idx=x_idx, h=p["h"], style_weight=p["style_weight"],
                         content_weight=p["content_weight"])
        x, evaluations = lbfgs(x0, energy, p["iterations"], LBFGS_HISTORY,
                               tolerance_grad=-1.0, tolerance_change=-1.0,
                               line_search_fn="strong_wolfe")
        self._last = {"evaluations": evaluations, "sampled": {
            k: v is not None for k, v in x_idx.items()},
            "layers": {"style": list(STYLE_LAYERS), "content": CONTENT_LAYER}}
        return to_image(x)

    def provenance(self, index: int = 0) -> dict[str, Any]:
        return {"contextual": self._last}


def _energy(enc, x: torch.Tensor, style_t: dict[str, torch.Tensor], content_t: torch.Tensor,
            x_idx: dict[str, torch.Tensor | None], h: float, style_weight: float,
            content_weight: float) -> torch.Tensor:
    f = enc(x)
    rows = {k: _rows(v, x_idx[k]) for k, v in f.items()}
    style = sum(contextual_loss(rows[k], style_t[k], h) for k in STYLE_LAYERS)
    return style_weight * style + content_weight * contextual_loss(rows[CONTENT_LAYER],
                                                                   content_t, h)
