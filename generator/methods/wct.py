"""WCT: Li, Fang, Yang, Wang, Lu, Yang, "Universal Style Transfer via Feature Transforms",
NeurIPS 2017, run as the authors' ``test_wct.lua`` (``Yijunmaverick/UniversalStyleTransfer``)
with their released encoders and decoders, which users supply
(``stylestudy weights import wct-vgg5 vgg_normalised_conv5_1.t7``, … ``wct-decoder1
feature_invertor_conv1_1.t7``). Details: ``docs/methods-adain-wct.md``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from stylestudy.generator.encoder import covariance
from stylestudy.generator.imageops import output_shape, resize
from stylestudy.generator.method import Method, Param, Request, register

__all__ = ["EIGEN_FLOOR", "LEVELS", "wct"]

#: ``feature_wct``: eigenvalues below 1e-5 (and all after them) are dropped
EIGEN_FLOOR = 1e-5
#: coarse to fine: WCT at relu5_1, then relu4_1, … relu1_1 (``styleTransfer``)
LEVELS = (5, 4, 3, 2, 1)


def _eig(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenvalues (descending) and eigenvectors of the unbiased covariance of the rows of
    x (n × C), truncated at the first eigenvalue below :data:`EIGEN_FLOOR`."""
    _, e, vh = torch.linalg.svd(covariance(x, unbiased=True))
    below = (e < EIGEN_FLOOR).nonzero()
    k = int(below[0]) if len(below) else len(e)
    return e[:k], vh[:k].t()


def wct(fc: torch.Tensor, fs: torch.Tensor) -> torch.Tensor:
    """Whitening and colouring (paper eq. 1–2): f̂ = E_s D_s^½ E_sᵀ E_c D_c^−½ E_cᵀ (f_c − m_c)
    + m_s, on C×H×W maps (batch 1), covariances divided by HW − 1."""
    c, h, w = fc.shape[1:]
    x, y = fc[0].reshape(c, -1).t(), fs[0].reshape(c, -1).t()
    ec, vc = _eig(x)
    es, vs = _eig(y)
    xc = (x - x.mean(0, keepdim=True)).t()
    white = vc @ torch.diag(ec.rsqrt()) @ vc.t() @ xc
    coloured = vs @ torch.diag(es.sqrt()) @ vs.t() @ white + y.mean(0).unsqueeze(1)
    return coloured.reshape(1, c, h, w)


@register
class WCT(Method):
    """Whitening and colouring transforms at relu5_1 … relu1_1 with the authors' decoders."""

    name = "wct"
    version = "1"
    kind = "feed-forward"
    summary = "WCT (Li et al. 2017), the authors' 5 encoders/decoders (you supply them)"
    weights = tuple(f"wct-{kind}{k}" for k in LEVELS for kind in ("vgg", "decoder"))
    user_weights = True
    params = {
        "alpha": Param(float, 0.6, "blend alpha·WCT + (1 − alpha)·content features at every "
                       "level (test_wct.lua -alpha 0.6)", min=0.0, max=1.0),
        "style_size": Param(int, 768, "the style's long side (test_wct.lua -styleSize 768)",
                            min=16, max=4096),
    }

    @classmethod
    def requirements(cls) -> list[str]:
        return ["weights you supply", "weights:wct-vgg1…5, wct-decoder1…5"]

    def setup(self) -> None:
        from stylestudy.generator.feedforward import load_network

        dev = torch.device(self.ctx.device)
        self.nets: dict[str, torch.nn.Sequential] = {}
        for name in self.weights:
            self.nets[name], record = load_network(
                name, self.ctx.allow_random_weights, weights_dir=self.ctx.weights_dir,
                device=dev)
            self.ctx.weights_used[name] = record
        self.calibrated = all(r["calibrated"] for r in self.ctx.weights_used.values())

    def run(self, request: Request) -> np.ndarray:
        from stylestudy.generator.methods._tensors import require_side, to_image, to_tensor

        p = request.params
        dev = torch.device(self.ctx.device)
        h, w = request.output_shape
        x = to_tensor(resize(request.content, (h, w)), dev)
        style = to_tensor(resize(request.style, output_shape(*request.style.shape[:2],
                                                             p["style_size"])), dev)
        require_side(self.name, 17, "relu5_1 is after four 2×2 poolings and needs 2×2 maps "
                     "for its reflection padding", content=x.shape, style=style.shape)
        with torch.no_grad():
            for k in LEVELS:
                enc, dec = self.nets[f"wct-vgg{k}"], self.nets[f"wct-decoder{k}"]
                fc, fs = enc(x), enc(style)
                x = dec(p["alpha"] * wct(fc, fs) + (1 - p["alpha"]) * fc)
        return to_image(x[..., :h, :w])

    def provenance(self, index: int = 0) -> dict[str, Any]:
        return {"wct": {"levels": [f"relu{k}_1" for k in LEVELS], "weights": "authors' networks"
                        if self.calibrated else "UNCALIBRATED: random weights, not results"}}
