"""Gatys, Ecker, Bethge, "Image Style Transfer Using Convolutional Neural Networks", CVPR 2016.

Faithful to the paper: VGG19 (the original Caffe network by default, ``vgg19-caffe-q8``;
torchvision's retrained VGG19 on request) with max pooling replaced by average pooling
(§2), style representation from the Gram matrices of conv1_1, conv2_1, conv3_1, conv4_1
and conv5_1 (w_l = 1/5, E_l = 1/(4 N_l² M_l²) Σ (G − A)², eq. 4–5), content from conv4_2
(½ Σ (F − P)², eq. 1), L = α L_content + β L_style with α/β = 1e-3 (Fig. 2/3), optimised
with L-BFGS from white noise (§2). Layer outputs are taken after the ReLU, as Caffe's
in-place ReLUs leave them in the named blobs. The paper gives no iteration count; the
default 1000 is jcjohnson/neural-style's ``-num_iterations``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from stylestudy.generator.encoder import gram
from stylestudy.generator.imageops import output_shape, resize
from stylestudy.generator.method import Method, Param, Request, register

__all__ = ["STYLE_LAYERS", "CONTENT_LAYER", "gram", "style_layer_loss", "content_loss"]

#: the paper's layer names → encoder taps (outputs after the ReLU of each named conv)
STYLE_LAYERS = {"conv1_1": "relu1_1", "conv2_1": "relu2_1", "conv3_1": "relu3_1",
                "conv4_1": "relu4_1", "conv5_1": "relu5_1"}
CONTENT_LAYER = ("conv4_2", "relu4_2")


def style_layer_loss(f, a):
    """E_l = 1/(4 N_l² M_l²) Σ_ij (G_ij − A_ij)² (eq. 4); ``a`` is the style Gram matrix."""
    n, m = f.shape
    return ((gram(f) - a) ** 2).sum() / (4.0 * n ** 2 * m ** 2)


def content_loss(f, p):
    """½ Σ (F − P)² (eq. 1)."""
    return 0.5 * ((f - p) ** 2).sum()


@register
class Gatys(Method):
    """Neural style transfer by Gram-matrix matching, L-BFGS."""

    name = "gatys"
    version = "1"
    kind = "optimisation"
    summary = "Gatys et al. 2016: VGG19 Gram matrices, conv4_2 content, L-BFGS"
    weights = ("vgg19-caffe-q8",)
    prefers_gpu = True
    params = {
        "ratio": Param(float, 1e-3, "α/β, content-to-style weight ratio (paper Fig. 2: 1e-3)",
                       min=0.0),
        "iterations": Param(int, 1000, "L-BFGS iterations (neural-style default 1000)", min=1),
        "init": Param(str, "noise", "white noise (paper) or the content image",
                      choices=("noise", "content")),
        "pooling": Param(str, "avg", "average pooling (paper §2) or max",
                         choices=("avg", "max")),
        "backbone": Param(str, "vgg19-caffe-q8", "the original Caffe VGG19 (8-bit) or "
                          "torchvision's VGG19", choices=("vgg19-caffe-q8", "vgg19")),
    }

    def setup(self) -> None:
        self._nets: dict[tuple[str, str], Any] = {}
        self.evaluations = 0

    def _net(self, backbone: str, pooling: str):
        key = (backbone, pooling)
        if key not in self._nets:
            taps = (*STYLE_LAYERS.values(), CONTENT_LAYER[1])
            self._nets[key] = self.ctx.encoder(backbone, taps, pooling=pooling)
        return self._nets[key]

    @staticmethod
    def _features(net, x) -> dict[str, Any]:
        """Each tap of the single image ``x`` as an N_l × M_l matrix."""
        return {k: v[0].reshape(v.shape[1], -1) for k, v in net(x).items()}

    def run(self, request: Request) -> np.ndarray:
        import torch

        p = request.params
        dev = torch.device(self.ctx.device)
        net = self._net(p["backbone"], p["pooling"])
        shape = request.output_shape
        content = torch.from_numpy(np.ascontiguousarray(resize(request.content, shape),
                                                        dtype=np.float32))
        content = content.permute(2, 0, 1)[None].to(dev)
        style_shape = output_shape(*request.style.shape[:2], max(shape))
        style = torch.from_numpy(np.ascontiguousarray(resize(request.style, style_shape),
                                                      dtype=np.float32))
        style = style.permute(2, 0, 1)[None].to(dev)
        with torch.no_grad():
            fc = self._features(net, content)
            fs = self._features(net, style)
            grams = {i: gram(fs[i]) for i in STYLE_LAYERS.values()}
            target = fc[CONTENT_LAYER[1]]
        gen = torch.Generator().manual_seed(request.seed)
        if p["init"] == "noise":
            x0 = torch.rand(content.shape, generator=gen).to(dev)
        else:
            x0 = content.clone(memory_format=torch.contiguous_format)
        x = x0.requires_grad_(True)
        alpha, beta = p["ratio"], 1.0
        opt = torch.optim.LBFGS([x], lr=1.0, max_iter=p["iterations"], history_size=100,
                                tolerance_grad=-1.0, tolerance_change=-1.0,
                                line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            self.evaluations += 1
            f = self._features(net, x)
            ls = sum(style_layer_loss(f[i], grams[i]) for i in STYLE_LAYERS.values()) / 5.0
            loss = alpha * content_loss(f[CONTENT_LAYER[1]], target) + beta * ls
            loss.backward()
            return loss

        self.evaluations = 0
        opt.step(closure)
        return torch.clamp(x.detach()[0], 0, 1).permute(1, 2, 0).cpu().numpy()

    def provenance(self, index: int = 0) -> dict[str, Any]:
        return {"gatys": {"evaluations": self.evaluations, "line_search": "strong_wolfe",
                          "layers": {"style": list(STYLE_LAYERS), "content": CONTENT_LAYER[0]}}}
