"""Losses of the translators: LSGAN, KL, and EGSC-IT's VGG19 perceptual terms (spec §1.7–1.8)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from stylestudy.errors import UserError

__all__ = ["lsgan_d", "lsgan_g", "kl", "gram", "VGGFeatures", "PerceptualLoss", "load_vgg",
           "MunitVGGLoss", "load_munit_vgg"]

#: VGG19 conv layers (out channels; 'M' = 2×2 max-pool), Simonyan & Zisserman config E
VGG19_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
             512, 512, 512, 512)
#: index (among the 16 convs) of relu1_1, relu2_1, relu3_1, relu4_1, relu5_1
TAPS = {"relu1_1": 0, "relu2_1": 2, "relu3_1": 4, "relu4_1": 8, "relu5_1": 12}
#: Caffe ImageNet mean, BGR (``tensorflow_vgg19.py`` VGG_MEAN)
BGR_MEAN = (103.939, 116.779, 123.68)
#: torchvision ``features`` indices of the 16 convs (key layout of ``stylestudy.generator.weights``)
VGG19_CONV_INDICES = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)


def lsgan_d(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """0.5·[(D(real) − 1)² + D(fake)²], means over all outputs."""
    return 0.5 * (((real - 1) ** 2).mean() + (fake ** 2).mean())


def lsgan_g(fake: torch.Tensor) -> torch.Tensor:
    """(D(fake) − 1)², mean."""
    return ((fake - 1) ** 2).mean()


def kl(mu: torch.Tensor) -> torch.Tensor:
    """UNIT's simplified KL term: mean(mu²)."""
    return (mu ** 2).mean()


def gram(f: torch.Tensor) -> torch.Tensor:
    """FᵀF / (H·W) per image: (N, C, C)."""
    n, c, h, w = f.shape
    x = f.reshape(n, c, h * w)
    return x @ x.transpose(1, 2) / (h * w)


class VGGFeatures(nn.Module):
    """Frozen VGG19 trunk up to the last requested tap; input in [−1, 1] RGB.

    Input conversion of the release: (x + 1)/2·255, RGB → BGR, Caffe mean subtracted.
    """

    def __init__(self, taps: tuple[str, ...]):
        super().__init__()
        self.tap_idx = sorted(TAPS[t] for t in taps)
        last = self.tap_idx[-1]
        convs, pools, cin, k = nn.ModuleList(), [], 3, 0
        for v in VGG19_CFG:
            if v == "M":
                pools.append(k)
                continue
            if k > last:
                break
            convs.append(nn.Conv2d(cin, v, 3, padding=1))
            cin, k = v, k + 1
        self.convs, self.pool_before = convs, set(pools)
        self.register_buffer("mean", torch.tensor(BGR_MEAN).view(1, 3, 1, 1))
        self.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        h = ((x + 1) / 2 * 255).flip(1) - self.mean
        out = []
        for i, conv in enumerate(self.convs):
            if i in self.pool_before:
                h = F.max_pool2d(h, 2, ceil_mode=False)
            h = F.relu(conv(h))
            if i in self.tap_idx:
                out.append(h)
        return out


def load_vgg(taps: tuple[str, ...], allow_random: bool, seed: int = 0
             ) -> tuple[VGGFeatures, dict[str, Any]]:
    """VGG19 with ``vgg19-caffe-q8`` weights (``stylestudy.generator.weights``), or a random fixed
    network only when ``allow_random`` (labelled uncalibrated)."""
    net = VGGFeatures(taps)
    state = None
    from stylestudy.generator.weights import load_state_dict

    state, record = load_state_dict("vgg19-caffe-q8", allow_random=allow_random, seed=seed)
    if state is None:
        gen = torch.Generator().manual_seed(seed)
        for conv in net.convs:
            nn.init.kaiming_normal_(conv.weight, generator=gen)
            nn.init.zeros_(conv.bias)
        record = dict(record, source="random", calibrated=False)
        return net, record
    for i, conv in enumerate(net.convs):
        w, b = state.get(f"features.{VGG19_CONV_INDICES[i]}.weight"), \
            state.get(f"features.{VGG19_CONV_INDICES[i]}.bias")
        if w is None or b is None or tuple(w.shape) != tuple(conv.weight.shape):
            raise UserError(f"VGG19 weights {record.get('name')}: conv {i} missing or not "
                            f"{tuple(conv.weight.shape)}")
        conv.weight.data.copy_(w.float())
        conv.bias.data.copy_(b.float())
    return net, dict(record)


def _l2n(f: torch.Tensor) -> torch.Tensor:
    """L2-normalise over H, W per channel per image (``tf.nn.l2_normalize(axis=[1,2])``)."""
    return F.normalize(f.flatten(2), dim=2, eps=1e-12).view_as(f)


class PerceptualLoss(nn.Module):
    """EGSC-IT's content and style losses on L2-normalised VGG19 features (§1.7).

    L_c = Σ_i (i/5)·[L1(φ_i(x_A), φ_i(x_ab)) + L1(φ_i(x_B), φ_i(x_ba))];
    L_s = Σ_i [L1(G(φ_i(x_ab)), G(φ_i(x_B))) + L1(G(φ_i(x_ba)), G(φ_i(x_A)))].
    """

    def __init__(self, vgg: VGGFeatures):
        super().__init__()
        self.vgg = vgg

    def forward(self, xa: torch.Tensor, xb: torch.Tensor, x_ab: torch.Tensor,
                x_ba: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = xa.shape[0]
        with torch.no_grad():
            real = [_l2n(f) for f in self.vgg(torch.cat([xa, xb]))]
        fake = [_l2n(f) for f in self.vgg(torch.cat([x_ab, x_ba]))]
        content = style = xa.new_zeros(())
        for fr, ff, idx in zip(real, fake, self.vgg.tap_idx, strict=True):
            i = list(TAPS.values()).index(idx) + 1
            fa, fb, fab, fba = fr[:n], fr[n:], ff[:n], ff[n:]
            content = content + i / 5 * (F.l1_loss(fab, fa) + F.l1_loss(fba, fb))
            style = style + F.l1_loss(gram(fab), gram(fb)) + F.l1_loss(gram(fba), gram(fa))
        return content, style


#: torchvision ``vgg16().features`` index of pool4, which MUNIT's ``Vgg16`` does not run,
#: and of relu5_3, its output (``networks.Vgg16.forward``)
VGG16_POOL4, VGG16_RELU5_3 = 23, 29
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class MunitVGGLoss(nn.Module):
    """MUNIT's domain-invariant perceptual loss (``trainer.compute_vgg_loss``):
    mean((IN(φ(x)) − IN(φ(y)))²), φ = VGG16 to relu5_3 without pool4 (stride 8), IN the
    affine-free instance norm (eps 1e-5); inputs in [−1, 1] RGB.

    MUNIT feeds Caffe-converted weights BGR·255 minus the Caffe mean; these are torchvision's
    ImageNet weights, so the input gets their own normalisation instead.
    """

    def __init__(self, vgg16_features: nn.Sequential):
        super().__init__()
        self.layers = nn.Sequential(*[m for i, m in enumerate(vgg16_features[:VGG16_RELU5_3 + 1])
                                      if i != VGG16_POOL4]).requires_grad_(False)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(((x + 1) / 2 - self.mean) / self.std)

    def forward(self, img: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return torch.mean((F.instance_norm(self.features(img), eps=1e-5)
                           - F.instance_norm(self.features(target), eps=1e-5)) ** 2)


def load_munit_vgg(allow_random: bool, seed: int = 0) -> tuple[MunitVGGLoss, dict[str, Any]]:
    """:class:`MunitVGGLoss` on the verified ``vgg16`` weights (or a labelled random VGG16)."""
    from stylestudy.generator.vgg import vgg_features

    features, record = vgg_features("vgg16", allow_random=allow_random, seed=seed)
    return MunitVGGLoss(features), record
