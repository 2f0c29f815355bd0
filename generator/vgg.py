"""VGG feature extractors built from verified weights (``stylestudy.generator.weights``)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from stylestudy.generator.weights import load_state_dict

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "CAFFE_MEAN_BGR", "vgg_features"]

#: torchvision's ImageNet normalisation (RGB in [0, 1])
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: Caffe VGG mean pixel, BGR order, 0-255 scale (Simonyan & Zisserman; Keras "caffe" mode)
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)

_ARCH = {"vgg16": "vgg16", "vgg19": "vgg19", "vgg19-caffe-q8": "vgg19"}


def vgg_features(name: str = "vgg16", path: str | None = None, allow_random: bool = False,
                 seed: int = 0, weights_dir: str | None = None,
                 device: str | torch.device = "cpu") -> tuple[nn.Sequential, dict[str, Any]]:
    """torchvision's ``vgg16/19().features`` with verified weights, frozen, in eval mode.

    With ``allow_random`` and no file found, the layers keep torchvision's initialisation
    drawn after ``torch.manual_seed(seed)`` (the global RNG state is restored afterwards);
    the record then says ``calibrated: False``.
    """
    import torchvision

    if name not in _ARCH:
        raise ValueError(f"not a VGG weight name: {name!r}")
    sd, record = load_state_dict(name, path=path, allow_random=allow_random, seed=seed,
                                 weights_dir=weights_dir)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        features = getattr(torchvision.models, _ARCH[name])(weights=None).features
    if sd is not None:
        feats = {k.removeprefix("features."): v for k, v in sd.items()
                 if k.startswith("features.")}
        features.load_state_dict(feats)
    features.eval().requires_grad_(False)
    return features.to(device), record
