"""One multi-layer VGG feature encoder for every VGG-based method and metric.

Layers are tapped by name (``relu3_1``, ``conv4_2``, ``pool2``) in torchvision's
``vgg16/19().features`` layout; one forward returns every requested tap. Each weight file
comes with the input convention it was trained with (:data:`CONVENTIONS`): torchvision's
ImageNet mean/std on RGB in [0, 1], or Caffe's BGR on a 0–255 scale minus the mean pixel.
Also here: the one Gram and covariance helpers.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from stylestudy.generator.vgg import CAFFE_MEAN_BGR, IMAGENET_MEAN, IMAGENET_STD, vgg_features

__all__ = ["ARCH", "CONVENTIONS", "Encoder", "covariance", "gram", "layer_names",
           "load_encoder"]

_CFG = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}
#: architecture of each weight name
ARCH = {"vgg16": "vgg16", "vgg19": "vgg19", "vgg19-caffe-q8": "vgg19"}
#: input convention of each weight name
CONVENTIONS = {"vgg16": "torchvision", "vgg19": "torchvision", "vgg19-caffe-q8": "caffe"}


def layer_names(arch: str) -> list[str]:
    """Names of torchvision's ``features`` modules in order: conv1_1, relu1_1, …, pool5."""
    names = []
    for block, convs in enumerate(_CFG[arch], start=1):
        for i in range(1, convs + 1):
            names += [f"conv{block}_{i}", f"relu{block}_{i}"]
        names.append(f"pool{block}")
    return names


class Encoder(nn.Module):
    """A VGG trunk (truncated after its deepest tap) that maps RGB images in [0, 1]
    (N×3×H×W) to a dict of named feature maps.

    ``pooling``: ``max`` (the trained network) or ``avg`` (Gatys et al. §2);
    ``padding``: ``zeros`` or ``reflect``; ``pixel_scale``: the 0–255 factor of the Caffe
    convention (some reference codes use 256); ``channels_last``: run the convolutions in
    channels-last memory order (faster on CPU, same maps up to float rounding).
    """

    def __init__(self, features: nn.Sequential, arch: str, convention: str,
                 taps: Iterable[str], pooling: str = "max", padding: str = "zeros",
                 pixel_scale: float = 255.0, channels_last: bool = False):
        super().__init__()
        names = layer_names(arch)
        self.taps = tuple(taps)
        unknown = [t for t in self.taps if t not in names]
        if unknown or not self.taps:
            raise ValueError(f"unknown {arch} layer(s) {unknown or 'none given'}")
        if convention not in ("torchvision", "caffe"):
            raise ValueError(f"unknown input convention {convention!r}")
        self.arch, self.convention, self.pixel_scale = arch, convention, float(pixel_scale)
        self.channels_last = channels_last
        last = max(names.index(t) for t in self.taps)
        layers = features[: last + 1]
        for i, layer in enumerate(layers):
            if isinstance(layer, nn.MaxPool2d) and pooling == "avg":
                layers[i] = nn.AvgPool2d(2, 2)
            elif isinstance(layer, nn.Conv2d) and padding == "reflect":
                layer.padding_mode = "reflect"
        if channels_last:
            layers = layers.to(memory_format=torch.channels_last)
        self.layers = layers
        self._tap_at = {names.index(t): t for t in self.taps}
        if convention == "caffe":
            self.register_buffer("mean", torch.tensor(CAFFE_MEAN_BGR).view(1, 3, 1, 1))
            self.register_buffer("std", torch.ones(1, 3, 1, 1))
        else:
            self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
            self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """RGB in [0, 1] → the network's input convention."""
        if self.convention == "caffe":
            return x.flip(1) * self.pixel_scale - self.mean
        return (x - self.mean) / self.std

    def restore(self, h: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`prepare`: the network's convention → RGB (unclamped)."""
        if self.convention == "caffe":
            return ((h + self.mean) / self.pixel_scale).flip(1)
        return h * self.std + self.mean

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.features(self.prepare(x))

    def features(self, h: torch.Tensor) -> dict[str, torch.Tensor]:
        """The taps of an input already in the network's convention (:meth:`prepare`)."""
        if self.channels_last:
            h = h.contiguous(memory_format=torch.channels_last)
        out: dict[str, torch.Tensor] = {}
        for i, layer in enumerate(self.layers):
            h = layer(h)
            if i in self._tap_at:
                out[self._tap_at[i]] = h
        return {t: out[t] for t in self.taps}


def load_encoder(weights: str, taps: Iterable[str], *, pooling: str = "max",
                 padding: str = "zeros", pixel_scale: float = 255.0,
                 channels_last: bool = False, allow_random: bool = False, seed: int = 0,
                 weights_dir: str | None = None, path: str | None = None,
                 device: str | torch.device = "cpu") -> tuple[Encoder, dict[str, Any]]:
    """:class:`Encoder` over the verified weights ``weights`` (``vgg16``, ``vgg19`` or
    ``vgg19-caffe-q8``), frozen, in eval mode; returns it with the weights record
    (``calibrated: False`` when random weights were allowed and used)."""
    if weights not in ARCH:
        raise ValueError(f"not a VGG weight name: {weights!r}")
    feats, record = vgg_features(weights, path=path, allow_random=allow_random, seed=seed,
                                 weights_dir=weights_dir)
    enc = Encoder(feats, ARCH[weights], CONVENTIONS[weights], taps, pooling=pooling,
                  padding=padding, pixel_scale=pixel_scale, channels_last=channels_last)
    return enc.eval().requires_grad_(False).to(device), record


def gram(f: torch.Tensor) -> torch.Tensor:
    """G = F Fᵀ over the last dimension: (…, C, M) → (…, C, C), unnormalised."""
    return f @ f.transpose(-1, -2)


def covariance(x: torch.Tensor, unbiased: bool = False) -> torch.Tensor:
    """Covariance of the rows of x (n × d) → d × d; divides by n, or n − 1 if ``unbiased``."""
    xc = x - x.mean(0, keepdim=True)
    return xc.t() @ xc / (x.shape[0] - 1 if unbiased else x.shape[0])
