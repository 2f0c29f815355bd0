"""CNNMRF: Li & Wand, "Combining Markov Random Fields and Convolutional Neural Networks for
Image Synthesis", CVPR 2016, as the authors' code ``chuanli11/CNNMRF`` runs style transfer
(``transfer_CNNMRF_wrapper.lua``, ``run_trans.lua``, ``mylib/*.lua``).

Every number and its source is in ``docs/methods-cnnmrf.md``. The energy whose gradient is
the one the authors' modules back-propagate:

    E(x) = Σ_l w_mrf · ½ Σ_i Σ_k (Ψ_i(x)_k − Ψ_NN(i)(s)_k)² / c_k        (MRF, relu3_1, relu4_1)
         + w_c · mean((Φ(x) − Φ(c))²)                                  (content, relu4_2)
         + w_tv · ½ Σ ((x_{y,x} − x_{y,x+1})² + (x_{y,x} − x_{y+1,x})²)   (TV)

Ψ_i are 3×3 patches on a stride-2 grid (plus the last row/column), NN(i) the style patch of
highest normalised cross-correlation, c_k the number of grid patches covering position k
(the code averages overlapping patch gradients). x is the Caffe-preprocessed image
(BGR, ×256, minus the mean pixel), optimised with L-BFGS without line search, coarse to fine.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from stylestudy.errors import UserError
from stylestudy.generator.method import Method, Param, Request, register

__all__ = ["MRF_LAYERS", "CONTENT_LAYER", "grid", "patch_rows", "coverage", "StylePatches",
           "mrf_loss", "content_loss", "tv_loss"]

#: ``mrf_layers = {12, 21}`` and ``content_layers = {23}`` of the loadcaffe VGG19
MRF_LAYERS = ("relu3_1", "relu4_1")
CONTENT_LAYER = "relu4_2"
#: ``mylib/helper.lua`` ``preprocess``: ``img:mul(256.0)``
PIXEL_SCALE = 256.0
#: ``params.nCorrection = 25``
LBFGS_HISTORY = 25
#: ``max_size`` default of the wrapper; the output long side when the request gives none
DEFAULT_SIZE = 384


def grid(n: int, size: int, stride: int) -> np.ndarray:
    """Patch start positions along one axis: 0, stride, … ≤ n − size, plus n − size if the
    stride skipped it (``helper.lua`` ``computegrid`` with ``flag_all = 1``)."""
    starts = list(range(0, n - size + 1, stride))
    if starts[-1] != n - size:
        starts.append(n - size)
    return np.asarray(starts, dtype=np.int64)


def _positions(h: int, w: int, size: int, stride: int) -> torch.Tensor:
    """Flat indices (into the stride-1 patch list) of the grid patches, row-major."""
    rows, cols = grid(h, size, stride), grid(w, size, stride)
    return torch.from_numpy((rows[:, None] * (w - size + 1) + cols[None, :]).ravel())


def patch_rows(f: torch.Tensor, size: int, stride: int) -> torch.Tensor:
    """The grid patches of a 1×C×H×W map as rows of length C·size² (channel-major)."""
    h, w = f.shape[-2:]
    idx = _positions(h, w, size, stride).to(f.device)
    return F.unfold(f, size)[0].index_select(1, idx).t()


def coverage(h: int, w: int, size: int, stride: int) -> torch.Tensor:
    """c: how many grid patches cover each position (1×1×H×W)."""
    full = torch.zeros(1, size * size, (h - size + 1) * (w - size + 1))
    full[..., _positions(h, w, size, stride)] = 1.0
    return F.fold(full, (h, w), size)


class StylePatches:
    """The style's grid patches at one layer: raw rows and unit rows for matching."""

    def __init__(self, fs: torch.Tensor, size: int, stride: int):
        self.size = size
        self.raw = patch_rows(fs, size, stride)
        self.unit = self.raw / self.raw.norm(dim=1, keepdim=True).clamp_min(1e-12)

    def nearest(self, x_rows: torch.Tensor) -> torch.Tensor:
        """Index of the style patch with the highest normalised cross-correlation to each
        row (``mrf.lua``: response / ‖source‖ / ‖target‖, max over targets)."""
        return (x_rows.detach() @ self.unit.t()).argmax(1)


def mrf_loss(f: torch.Tensor, style: StylePatches, stride: int) -> torch.Tensor:
    """½ Σ_i Σ_k (Ψ_i(x)_k − Ψ_NN(i)_k)² / c_k for one layer (f: 1×C×H×W)."""
    size = style.size
    h, w = f.shape[-2:]
    x = patch_rows(f, size, stride)
    t = style.raw.index_select(0, style.nearest(x))
    inv = 1.0 / coverage(h, w, size, stride).to(f)
    weights = patch_rows(inv, size, stride).repeat(1, f.shape[1])
    return 0.5 * (weights * (x - t) ** 2).sum()


def content_loss(f: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """mean((Φ(x) − Φ(c))²) (``nn.MSECriterion``, size-averaged)."""
    return ((f - target) ** 2).mean()


def tv_loss(x: torch.Tensor) -> torch.Tensor:
    """½ Σ over y < H−1, x < W−1 of the squared right and down differences (``tv.lua``)."""
    core = x[..., :-1, :-1]
    return 0.5 * (((core - x[..., :-1, 1:]) ** 2).sum() + ((core - x[..., 1:, :-1]) ** 2).sum())


@register
class CNNMRF(Method):
    """MRF patch matching on VGG19 relu3_1/relu4_1, multi-resolution, L-BFGS."""

    name = "cnnmrf"
    version = "1"
    kind = "optimisation"
    summary = "CNNMRF (Li & Wand 2016): VGG19 relu3_1/relu4_1 patch MRF, 3 resolutions, L-BFGS"
    weights = ("vgg19-caffe-q8",)
    prefers_gpu = True
    params = {
        "content_weight": Param(float, 2e1, "content weight on relu4_2 (run_trans.lua: 2e1; "
                                "1e1 more style, 4e1 more content)", min=0.0),
        "mrf_weight": Param(float, 1e-4, "weight of each MRF layer (1e-4)", min=0.0),
        "tv_weight": Param(float, 1e-3, "total-variation weight (1e-3)", min=0.0),
        "resolutions": Param(int, 3, "coarse-to-fine resolutions (num_res 3)", min=1, max=6),
        "iterations": Param(int, 100, "L-BFGS iterations per resolution (100)", min=1),
        "patch_size": Param(int, 3, "MRF patch size on the feature maps (3)", min=1, max=7),
        "stride": Param(int, 2, "grid stride on the output and the style maps (2)", min=1,
                        max=8),
        "init": Param(str, "content", "content (ini_method 'image') or noise "
                      "(randn × 0.001 in the Caffe input space)",
                      choices=("content", "noise")),
    }

    def setup(self) -> None:
        self.encoder = self.ctx.encoder("vgg19-caffe-q8", (*MRF_LAYERS, CONTENT_LAYER),
                                        pixel_scale=PIXEL_SCALE)
        self._last: dict[str, Any] = {}

    def run(self, request: Request) -> np.ndarray:
        from stylestudy.generator.methods._tensors import bilinear, inputs, lbfgs, to_image

        p = request.params
        dev = torch.device(self.ctx.device)
        enc = self.encoder
        content, style = inputs(request.content, request.style, request.size or DEFAULT_SIZE,
                                dev)
        c_pre, s_pre = enc.prepare(content), enc.prepare(style)
        n, k, stride = p["resolutions"], p["patch_size"], p["stride"]
        gen = torch.Generator().manual_seed(request.seed)
        x = None
        evaluations, levels = 0, []
        for level in range(1, n + 1):
            f = 0.5 ** (n - level)
            c = bilinear(c_pre, _ceil_shape(c_pre, f), align_corners=True)
            s = bilinear(s_pre, _ceil_shape(s_pre, f), align_corners=True)
            if x is None:
                x = c.clone() if p["init"] == "content" else \
                    (torch.randn(c.shape, generator=gen) * 1e-3).to(dev)
            else:
                x = bilinear(x, tuple(c.shape[-2:]), align_corners=True)
            for name, img in (("content", c), ("style", s)):
                side = min(img.shape[-2:]) // 8  # relu4_1 is after three 2×2 poolings
                if side < k:
                    raise UserError(f"cnnmrf: at resolution {level} of {n} the {name} image is "
                                    f"{tuple(img.shape[-2:])}, so its relu4_1 map is smaller "
                                    f"than the patch size {k}; use a larger size or fewer "
                                    "resolutions")
            with torch.no_grad():
                fc = enc.features(c)[CONTENT_LAYER]
                fs = enc.features(s)
            styles = {name: StylePatches(fs[name], k, stride) for name in MRF_LAYERS}
            energy = partial(_energy, enc, fc=fc, styles=styles, stride=stride,
                             content_weight=p["content_weight"], tv_weight=p["tv_weight"],
                             mrf_weight=p["mrf_weight"])
            x, count = lbfgs(x, energy, p["iterations"], LBFGS_HISTORY)
            evaluations += count
            levels.append({"size": list(c.shape[-2:]), "evaluations": count})
        self._last = {"levels": levels, "evaluations": evaluations,
                      "layers": {"mrf": list(MRF_LAYERS), "content": CONTENT_LAYER}}
        return to_image(enc.restore(x.detach()))

    def provenance(self, index: int = 0) -> dict[str, Any]:
        return {"cnnmrf": self._last}


def _energy(enc, x: torch.Tensor, fc: torch.Tensor, styles: dict[str, StylePatches],
            stride: int, content_weight: float, tv_weight: float, mrf_weight: float
            ) -> torch.Tensor:
    feats = enc.features(x)
    loss = content_weight * content_loss(feats[CONTENT_LAYER], fc) + tv_weight * tv_loss(x)
    for name in MRF_LAYERS:
        loss = loss + mrf_weight * mrf_loss(feats[name], styles[name], stride)
    return loss


def _ceil_shape(x: torch.Tensor, f: float) -> tuple[int, int]:
    """``math.ceil(size · 0.5^(num_res − i))`` per side (``transfer_CNNMRF_wrapper.lua``)."""
    return int(np.ceil(x.shape[-2] * f)), int(np.ceil(x.shape[-1] * f))
