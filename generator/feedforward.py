"""Inference networks of the feed-forward baselines whose checkpoints users supply: the
normalised VGG19 encoder and the mirrored decoders of AdaIN (Huang & Belongie 2017) and
WCT (Li et al. 2017), laid out module for module as the authors' Torch ``nn.Sequential``
files, so their weights load under the same indices.

Encoder (``xunhuang1995/AdaIN-style`` ``models/download_models.sh``: the normalised VGG19
of Gatys et al. converted with loadcaffe, a 1×1 convolution in front that maps RGB in [0, 1]
to Caffe's input, zero padding replaced by reflection padding): conv1×1, then per conv
``ReflectionPad(1), Conv 3×3, ReLU`` and a 2×2 max pooling (ceil mode) between blocks.
Decoder (``train.lua``, "Build decoder"): the encoder's convolutions in reverse, each as
``ReflectionPad(1), Conv 3×3 (out → in), ReLU``, nearest ×2 upsampling for each pooling,
then the last ReLU and the mirrored 1×1 convolution dropped.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["RELU_NAMES", "LAYOUTS", "decoder", "encoder", "layout", "load_network"]

_BLOCKS = ((1, 2, 64), (2, 2, 128), (3, 4, 256), (4, 4, 512), (5, 4, 512))
RELU_NAMES = tuple(f"relu{b}_{i}" for b, n, _ in _BLOCKS for i in range(1, n + 1))


def encoder(upto: str = "relu5_4") -> nn.Sequential:
    """The normalised VGG19 up to and including the ReLU ``upto``."""
    if upto not in RELU_NAMES:
        raise ValueError(f"unknown layer {upto!r}")
    mods: list[nn.Module] = [nn.Conv2d(3, 3, 1)]
    cin = 3
    for block, convs, width in _BLOCKS:
        if block > 1:
            mods.append(nn.MaxPool2d(2, 2, 0, ceil_mode=True))
        for i in range(1, convs + 1):
            mods += [nn.ReflectionPad2d(1), nn.Conv2d(cin, width, 3), nn.ReLU()]
            cin = width
            if f"relu{block}_{i}" == upto:
                return nn.Sequential(*mods)
    raise AssertionError("unreachable")


def decoder(upto: str) -> nn.Sequential:
    """The decoder that inverts :func:`encoder` (``upto``)."""
    mods: list[nn.Module] = []
    for layer in reversed(encoder(upto)):
        if isinstance(layer, nn.Conv2d):
            mods += [nn.ReflectionPad2d(1),
                     nn.Conv2d(layer.out_channels, layer.in_channels, 3), nn.ReLU()]
        elif isinstance(layer, nn.MaxPool2d):
            mods.append(nn.Upsample(scale_factor=2, mode="nearest"))
    return nn.Sequential(*mods[:-4])


#: architecture of each weight name that users supply (``stylestudy.generator.weights``)
LAYOUTS = {
    "adain-vgg": lambda: encoder("relu5_4"),
    "adain-decoder": lambda: decoder("relu4_1"),
    **{f"wct-vgg{k}": (lambda k=k: encoder(f"relu{k}_1")) for k in range(1, 6)},
    **{f"wct-decoder{k}": (lambda k=k: decoder(f"relu{k}_1")) for k in range(1, 6)},
}


def layout(name: str) -> dict[str, tuple[int, ...]]:
    """State-dict keys and shapes that the weight file ``name`` must have."""
    with torch.device("meta"):
        net = LAYOUTS[name]()
    return {k: tuple(v.shape) for k, v in net.state_dict().items()}


def load_network(name: str, allow_random: bool = False, seed: int = 0,
                 weights_dir: str | None = None, device: str | torch.device = "cpu"
                 ) -> tuple[nn.Sequential, dict]:
    """The network of the supplied weight ``name`` with its imported weights, frozen; with
    ``allow_random`` and no file, seeded random weights and a record that says uncalibrated."""
    from stylestudy.generator.weights import load_state_dict

    sd, record = load_state_dict(name, allow_random=allow_random, seed=seed,
                                 weights_dir=weights_dir)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = LAYOUTS[name]()
    if sd is not None:
        net.load_state_dict(sd)
    return net.eval().requires_grad_(False).to(device), record
