"""Sliced-Wasserstein style transfer: the style loss of Heitz, Vanhoey, Chambon, Belcour,
"A Sliced Wasserstein Loss for Neural Texture Synthesis", CVPR 2021, as the authors' code
``tchambon/A-Sliced-Wasserstein-Loss-for-Neural-Texture-Synthesis`` computes it
(``texture_optimization_slicing.py``), with Gatys et al.'s content term added.

Per layer l with d_l channels: draw d_l random unit directions, project the output's and
the style's features on them, sort each projection, and take the mean squared difference of
the sorted lists; sum over the 12 ReLU layers of blocks 1–4 of VGG19. New directions are
drawn at every evaluation. Numbers, sources and deviations: ``docs/methods-swd.md``.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
import torch

from stylestudy.generator.method import Method, Param, Request, register

__all__ = ["STYLE_LAYERS", "CONTENT_LAYER", "directions", "sorted_quantiles",
           "sliced_wasserstein"]

#: ``VGG19.forward`` returns block1_conv1 … block4_conv4 after their ReLUs
STYLE_LAYERS = ("relu1_1", "relu1_2", "relu2_1", "relu2_2", "relu3_1", "relu3_2", "relu3_3",
                "relu3_4", "relu4_1", "relu4_2", "relu4_3", "relu4_4")
#: Gatys et al.'s content layer (conv4_2 after its ReLU)
CONTENT_LAYER = "relu4_2"


def directions(dim: int, generator: torch.Generator) -> torch.Tensor:
    """``dim`` random unit directions in ℝ^dim (Gaussian, normalised), dim × dim."""
    v = torch.randn(dim, dim, generator=generator)
    return v / torch.sqrt((v ** 2).sum(1, keepdim=True))


def sorted_quantiles(values: torch.Tensor, n: int) -> torch.Tensor:
    """The sorted rows of ``values`` (k × m) read at n evenly spaced quantiles, k × n: the
    sorted rows themselves when n = m, linear interpolation at (i + ½)·m/n − ½ otherwise."""
    v = torch.sort(values, dim=1)[0]
    m = v.shape[1]
    if n == m:
        return v
    q = ((torch.arange(n, dtype=torch.float64) + 0.5) * m / n - 0.5).clamp(0, m - 1)
    lo = q.floor().long()
    hi = (lo + 1).clamp(max=m - 1)
    frac = (q - lo).to(v.dtype)
    return v[:, lo] * (1 - frac) + v[:, hi] * frac


def sliced_wasserstein(x: torch.Tensor, s_sorted: torch.Tensor, dirs: torch.Tensor
                       ) -> torch.Tensor:
    """mean((sort(V x) − sort(V s))²) for output features x (d × n) and the style's
    projections on the same directions V, already sorted and read at n quantiles."""
    px = torch.sort(dirs @ x, dim=1)[0]
    return ((px - s_sorted) ** 2).mean()


@register
class SlicedWasserstein(Method):
    """Sliced-Wasserstein style loss on 12 VGG19 layers plus a content term, L-BFGS."""

    name = "swd"
    version = "1"
    kind = "optimisation"
    summary = "Sliced-Wasserstein style loss (Heitz et al. 2021), VGG19 blocks 1-4, L-BFGS"
    weights = ("vgg19-caffe-q8",)
    prefers_gpu = True
    params = {
        "content_weight": Param(float, 1.0, "weight of the content term mean((F − P)²) on "
                                "relu4_2 (stylestudy's choice, see docs/methods-swd.md)",
                                min=0.0),
        "steps": Param(int, 64, "L-BFGS step() calls (the authors' loop: 64)", min=1),
        "iterations": Param(int, 64, "L-BFGS iterations per step (max_iter=64)", min=1),
        "init": Param(str, "content", "content image, or the style's mean colour + 0.01 "
                      "noise (the authors' texture init)", choices=("content", "mean")),
    }

    def setup(self) -> None:
        self.encoder = self.ctx.encoder("vgg19-caffe-q8", STYLE_LAYERS, pooling="avg",
                                        padding="reflect")
        self._last: dict[str, Any] = {}

    def run(self, request: Request) -> np.ndarray:
        from stylestudy.generator.methods._tensors import inputs, require_side, to_image

        p = request.params
        dev = torch.device(self.ctx.device)
        content, style = inputs(request.content, request.style, max(request.output_shape), dev)
        require_side(self.name, 16, "block 4, after three 2×2 poolings, needs 2×2 maps for "
                     "its reflection padding", content=content.shape, style=style.shape)
        gen = torch.Generator().manual_seed(request.seed)
        with torch.no_grad():
            fs = {k: v[0].flatten(1) for k, v in self.encoder(style).items()}
            fc = self.encoder(content)[CONTENT_LAYER]
        if p["init"] == "content":
            x0 = content
        else:
            noise = torch.randn(content.shape, generator=gen).to(dev)
            x0 = style.mean((2, 3), keepdim=True) + 0.01 * noise
        x = x0.detach().clone(memory_format=torch.contiguous_format).requires_grad_(True)
        # the authors' LBFGS(lr=1, max_iter=64, tolerance_grad=0.0), torch defaults otherwise
        opt = torch.optim.LBFGS([x], lr=1.0, max_iter=p["iterations"], tolerance_grad=0.0)
        energy = partial(_energy, self.encoder, fs=fs, fc=fc, gen=gen,
                         content_weight=p["content_weight"])
        count = {"n": 0}

        def closure():
            opt.zero_grad()
            count["n"] += 1
            loss = energy(x)
            loss.backward()
            return loss

        for _ in range(p["steps"]):
            opt.step(closure)
        self._last = {"evaluations": count["n"], "layers": {
            "style": list(STYLE_LAYERS), "content": CONTENT_LAYER}}
        return to_image(x)

    def provenance(self, index: int = 0) -> dict[str, Any]:
        return {"swd": self._last}


def _energy(enc, x: torch.Tensor, fs: dict[str, torch.Tensor], fc: torch.Tensor,
            gen: torch.Generator, content_weight: float) -> torch.Tensor:
    f = enc(x)
    loss = content_weight * ((f[CONTENT_LAYER] - fc) ** 2).mean()
    for k in STYLE_LAYERS:
        fx = f[k][0].flatten(1)
        dirs = directions(fx.shape[0], gen).to(fx)
        loss = loss + sliced_wasserstein(fx, sorted_quantiles(dirs @ fs[k], fx.shape[1]), dirs)
    return loss
