"""Building blocks shared by the translators: convs, residual blocks, AdaIN, feature masks.

EGSC-IT's blocks follow ``ops_EGSCIT.py`` of ``charliememory/EGSC-IT`` @57874f2:
reflect padding, truncated-normal init (std 0.02), LeakyReLU 0.2,
residual blocks with no activation after the addition.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ADAIN_EPS", "Conv", "ResBlock", "adain", "channel_stats", "feature_mask",
           "init_weights", "tf_same_pad", "lrelu"]

#: ε of the textbook AdaIN (Huang & Belongie 2017); the released formula has none
ADAIN_EPS = 1e-5


def lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.2)


def tf_same_pad(x: torch.Tensor, k: int, s: int) -> torch.Tensor:
    """Zero padding of TensorFlow's ``SAME`` (extra pixel on the bottom/right)."""
    pads = []
    for size in (x.shape[-1], x.shape[-2]):
        out = math.ceil(size / s)
        total = max((out - 1) * s + k - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


class Conv(nn.Module):
    """Pad → conv → [instance norm] → [activation]; ``pad`` is 'reflect' or 'zero'."""

    def __init__(self, cin: int, cout: int, k: int, s: int = 1, pad: str = "reflect",
                 norm: str | None = None, act: str | None = "lrelu", padding: int | None = None):
        super().__init__()
        p = (k - 1) // 2 if padding is None else padding
        self.pad = nn.ReflectionPad2d(p) if pad == "reflect" and p else nn.ZeroPad2d(p)
        self.conv = nn.Conv2d(cin, cout, k, s)
        self.norm = nn.InstanceNorm2d(cout) if norm == "in" else (
            nn.BatchNorm2d(cout) if norm == "bn" else nn.Identity())
        self.act = {"lrelu": nn.LeakyReLU(0.2), "relu": nn.ReLU(), None: nn.Identity(),
                    "tanh": nn.Tanh()}[act]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.conv(self.pad(x))))


class ResBlock(nn.Module):
    """pad → conv3 → [norm] → ReLU → pad → conv3 → [norm] → + skip."""

    def __init__(self, ch: int, pad: str = "reflect", norm: str | None = None):
        super().__init__()
        self.body = nn.Sequential(Conv(ch, ch, 3, 1, pad, norm, "relu"),
                                  Conv(ch, ch, 3, 1, pad, norm, None))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def init_weights(module: nn.Module, kind: str = "trunc_normal", std: float = 0.02) -> None:
    """Initialise conv/linear weights: 'trunc_normal' (TF's), 'normal' or 'kaiming'."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
            if kind == "trunc_normal":
                nn.init.trunc_normal_(m.weight, std=std, a=-2 * std, b=2 * std)
            elif kind == "normal":
                nn.init.normal_(m.weight, 0.0, std)
            else:
                nn.init.kaiming_normal_(m.weight, a=0, mode="fan_in")
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def channel_stats(f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image, per-channel spatial mean and (biased) variance, shaped (N, C, 1, 1)."""
    return f.mean((2, 3), keepdim=True), f.var((2, 3), unbiased=False, keepdim=True)


def adain(x: torch.Tensor, mean_e: torch.Tensor, var_e: torch.Tensor,
          variant: str = "textbook") -> torch.Tensor:
    """Exemplar AdaIN (``ops_EGSCIT.py``).

    'textbook': σ_e·(x − μ_x)/σ_x + μ_e with σ = √(var + 1e-5) (Huang & Belongie 2017);
    'code': the released formula μ_e·(x − μ_x)/σ²_x + σ²_e (``apply_ins_norm_2d`` with
    gamma = mean − 1, beta = var), no ε.
    """
    mean_x, var_x = channel_stats(x)
    if variant == "textbook":
        return torch.sqrt(var_e + ADAIN_EPS) * (x - mean_x) / torch.sqrt(var_x + ADAIN_EPS) + mean_e
    if variant == "code":
        return mean_e * (x - mean_x) / var_x + var_e
    raise ValueError(f"unknown AdaIN variant {variant!r}")


def feature_mask(f: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """sigmoid(f)/2 + 1/2 (values in (0.5, 1)), resized bilinearly to the latent size."""
    m = torch.sigmoid(f) / 2 + 0.5
    if tuple(m.shape[-2:]) != tuple(size):
        m = F.interpolate(m, size=size, mode="bilinear", align_corners=True)
    return m
