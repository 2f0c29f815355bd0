"""AdaIN: Huang & Belongie, "Arbitrary Style Transfer in Real-time with Adaptive Instance
Normalization", ICCV 2017, run as the authors' ``test.lua`` (``xunhuang1995/AdaIN-style``)
with their released networks, which users supply (``stylestudy weights import adain-vgg
vgg_normalised.t7`` and ``adain-decoder decoder.t7``; the PyTorch port's ``.pth`` files load
too). Details: ``docs/methods-adain-wct.md``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from stylestudy.generator.imageops import resize
from stylestudy.generator.method import Method, Param, Request, register

__all__ = ["ENCODER_LAYER", "EPS", "adain"]

#: ``test.lua`` removes modules 53 … 32 of ``vgg_normalised.t7``: the encoder ends at relu4_1
ENCODER_LAYER = "relu4_1"
#: ``AdaptiveInstanceNormalization``: ``self.eps = eps or 1e-5``
EPS = 1e-5


def adain(fc: torch.Tensor, fs: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """AdaIN(x, y) = σ(y) (x − μ(x)) / σ(x) + μ(y) per channel (paper eq. 8), as the Lua
    layer computes it: x normalised by √(biased variance + eps) (training-mode batch norm),
    σ(y) the biased standard deviation without eps."""
    n, c = fc.shape[:2]
    x, y = fc.reshape(n, c, -1), fs.reshape(n, c, -1)
    mx, vx = x.mean(2, keepdim=True), x.var(2, unbiased=False, keepdim=True)
    my, sy = y.mean(2, keepdim=True), y.std(2, unbiased=False, keepdim=True)
    return ((x - mx) / torch.sqrt(vx + eps) * sy + my).reshape(fc.shape)


@register
class AdaIN(Method):
    """Adaptive instance normalisation at relu4_1 with the authors' decoder."""

    name = "adain"
    version = "1"
    kind = "feed-forward"
    summary = "AdaIN (Huang & Belongie 2017), the authors' encoder/decoder (you supply them)"
    weights = ("adain-vgg", "adain-decoder")
    user_weights = True
    params = {
        "alpha": Param(float, 1.0, "content-style trade-off: alpha·AdaIN + (1 − alpha)·content "
                       "features (test.lua -alpha 1)", min=0.0, max=1.0),
        "style_size": Param(int, 512, "the style's short side before encoding (test.lua "
                            "-styleSize 512, '^' = minimum side)", min=16, max=4096),
    }

    def setup(self) -> None:
        from stylestudy.generator.feedforward import load_network

        dev = torch.device(self.ctx.device)
        vgg, rec_v = load_network("adain-vgg", self.ctx.allow_random_weights,
                                  weights_dir=self.ctx.weights_dir, device=dev)
        self.decoder, rec_d = load_network("adain-decoder", self.ctx.allow_random_weights,
                                           weights_dir=self.ctx.weights_dir, device=dev)
        self.encoder = vgg[:31]  # modules 0 … 30: conv1×1 … relu4_1
        self.ctx.weights_used.update({"adain-vgg": rec_v, "adain-decoder": rec_d})
        self.calibrated = rec_v["calibrated"] and rec_d["calibrated"]

    def run(self, request: Request) -> np.ndarray:
        from stylestudy.generator.methods._tensors import require_side, to_image, to_tensor

        p = request.params
        dev = torch.device(self.ctx.device)
        h, w = request.output_shape
        content = to_tensor(resize(request.content, (h, w)), dev)
        style = to_tensor(resize(request.style, short_side(request.style, p["style_size"])),
                          dev)
        require_side(self.name, 9, "relu4_1 is after three 2×2 poolings and needs 2×2 maps "
                     "for its reflection padding", content=content.shape, style=style.shape)
        with torch.no_grad():
            fc, fs = self.encoder(content), self.encoder(style)
            t = p["alpha"] * adain(fc, fs) + (1 - p["alpha"]) * fc
            out = self.decoder(t)[..., :h, :w]
        return to_image(out)

    def provenance(self, index: int = 0) -> dict[str, Any]:
        return {"adain": {"layer": ENCODER_LAYER, "weights": "authors' networks"
                          if self.calibrated else "UNCALIBRATED: random weights, not results"}}


def short_side(image: np.ndarray, side: int) -> tuple[int, int]:
    """(H, W) with the short side ``side``, aspect kept (Torch ``image.scale(x, '^side')``)."""
    h, w = image.shape[:2]
    f = side / min(h, w)
    return max(1, round(h * f)), max(1, round(w * f))
