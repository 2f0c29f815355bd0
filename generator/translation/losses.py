"""Losses of the translators: LSGAN, KL, and EGSC-IT's VGG19 perceptual terms."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from stylestudy.errors import UserError
from stylestudy.generator import encoder
from stylestudy.generator.vgg import IMAGENET_MEAN, IMAGENET_STD

__all__ = ["lsgan_d", "lsgan_g", "kl", "gram", "PerceptualLoss", "load_vgg",
           "MunitVGGLoss", "load_munit_vgg"]

#: EGSC-IT's VGG19 taps in order; the content loss weighs the i-th (from 1) by i/5
TAPS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


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
    return encoder.gram(f.reshape(n, c, h * w)) / (h * w)


def load_vgg(taps: tuple[str, ...], allow_random: bool, seed: int = 0
             ) -> tuple[encoder.Encoder, dict[str, Any]]:
    """The shared encoder over VGG19 ``vgg19-caffe-q8`` (Caffe convention, as the release's
    ``tensorflow_vgg19.py``: RGB → BGR on 0–255 minus the mean pixel) at ``taps``, or a random
    fixed network only when ``allow_random`` (labelled uncalibrated)."""
    unknown = [t for t in taps if t not in TAPS]
    if unknown:
        raise UserError(f"EGSC-IT taps VGG19 at {', '.join(TAPS)}, not {', '.join(unknown)}")
    return encoder.load_encoder("vgg19-caffe-q8", taps, allow_random=allow_random, seed=seed)


def _l2n(f: torch.Tensor) -> torch.Tensor:
    """L2-normalise over H, W per channel per image (``tf.nn.l2_normalize(axis=[1,2])``)."""
    return F.normalize(f.flatten(2), dim=2, eps=1e-12).view_as(f)


class PerceptualLoss(nn.Module):
    """EGSC-IT's content and style losses on L2-normalised VGG19 features, as released.

    L_c = Σ_i (i/5)·[L1(φ_i(x_A), φ_i(x_ab)) + L1(φ_i(x_B), φ_i(x_ba))];
    L_s = Σ_i [L1(G(φ_i(x_ab)), G(φ_i(x_B))) + L1(G(φ_i(x_ba)), G(φ_i(x_A)))].
    """

    def __init__(self, vgg: encoder.Encoder):
        super().__init__()
        self.vgg = vgg

    def _features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """L2-normalised taps of images in [−1, 1]."""
        return {t: _l2n(f) for t, f in self.vgg((x + 1) / 2).items()}

    def forward(self, xa: torch.Tensor, xb: torch.Tensor, x_ab: torch.Tensor,
                x_ba: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = xa.shape[0]
        with torch.no_grad():
            real = self._features(torch.cat([xa, xb]))
        fake = self._features(torch.cat([x_ab, x_ba]))
        content = style = xa.new_zeros(())
        for tap, fr in real.items():
            ff, i = fake[tap], TAPS.index(tap) + 1
            fa, fb, fab, fba = fr[:n], fr[n:], ff[:n], ff[n:]
            content = content + i / 5 * (F.l1_loss(fab, fa) + F.l1_loss(fba, fb))
            style = style + F.l1_loss(gram(fab), gram(fb)) + F.l1_loss(gram(fba), gram(fa))
        return content, style


#: torchvision ``vgg16().features`` index of pool4, which MUNIT's ``Vgg16`` does not run,
#: and of relu5_3, its output (``networks.Vgg16.forward``)
VGG16_POOL4, VGG16_RELU5_3 = 23, 29


class MunitVGGLoss(nn.Module):
    """MUNIT's domain-invariant perceptual loss (``trainer.compute_vgg_loss``):
    mean((IN(φ(x)) − IN(φ(y)))²), φ = VGG16 to relu5_3 without pool4 (stride 8), IN the
    affine-free instance norm (eps 1e-5); inputs in [−1, 1] RGB.

    MUNIT feeds Caffe-converted weights BGR·255 minus the Caffe mean; these are torchvision's
    ImageNet weights, so the input gets their own normalisation instead. The one VGG use not
    built on :class:`~stylestudy.generator.encoder.Encoder`: MUNIT's trunk skips pool4.
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
