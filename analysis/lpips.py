"""LPIPS v0.1 (Zhang et al., CVPR 2018) without torchvision (docs/analysis.md, "Metrics").

The backbone trunks reproduce torchvision's ``alexnet().features`` / ``vgg16().features``
layer indices, so ``features.N.*`` state dicts from ``stylestudy.generator.weights`` load directly.
The linear heads are the ``lpips`` wheel's ``weights/v0.1/{alex,vgg}.pth``, located with
``importlib.util.find_spec`` without importing the package (which imports torchvision).

Computation (lpips ``LPIPS.forward``): ScalingLayer (x − shift)/scale on RGB in [−1, 1];
taps alex relu1–5 or vgg relu1_2 … relu5_3; per-pixel unit normalisation across channels
(eps 1e-10); squared difference; 1×1 linear head (no bias); spatial mean; sum over layers.
Published calibration: alex v0.1 gives d(ex_ref, ex_p0) = 0.7219, d(ex_ref, ex_p1) = 0.1376.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import torch
from torch import nn

from stylestudy.errors import UserError

__all__ = ["LPIPS", "lpips", "lpips_heads_path", "trunk"]

SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
#: torchvision ``features`` layouts: (kind, args) per index; taps end after these indices
_ALEX: list[tuple[Any, ...]] = [
    ("conv", (3, 64, 11, 4, 2)), ("relu",), ("pool",), ("conv", (64, 192, 5, 1, 2)),
    ("relu",), ("pool",), ("conv", (192, 384, 3, 1, 1)), ("relu",),
    ("conv", (384, 256, 3, 1, 1)), ("relu",), ("conv", (256, 256, 3, 1, 1)), ("relu",)]
_VGG16_CFG: list[int | str] = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512,
                               "M", 512, 512, 512]
TAPS = {"alex": (1, 4, 7, 9, 11), "vgg": (3, 8, 15, 22, 29)}
WEIGHT_NAMES = {"alex": "alexnet", "vgg": "vgg16"}


def _vgg16_layers() -> list[tuple[Any, ...]]:
    layers: list[tuple[Any, ...]] = []
    c = 3
    for v in _VGG16_CFG:
        if isinstance(v, str):  # "M"
            layers.append(("pool2",))
        else:
            layers += [("conv", (c, v, 3, 1, 1)), ("relu",)]
            c = v
    return layers


def trunk(net: str) -> nn.Sequential:
    """The torchvision ``features`` module of ``net`` up to its last LPIPS tap."""
    spec = _ALEX if net == "alex" else _vgg16_layers()
    mods: list[nn.Module] = []
    for layer in spec:
        if layer[0] == "conv":
            cin, cout, k, s, p = layer[1]
            mods.append(nn.Conv2d(cin, cout, k, stride=s, padding=p))
        elif layer[0] == "relu":
            mods.append(nn.ReLU(inplace=False))
        elif layer[0] == "pool":
            mods.append(nn.MaxPool2d(kernel_size=3, stride=2))
        else:
            mods.append(nn.MaxPool2d(kernel_size=2, stride=2))
    return nn.Sequential(*mods)


def lpips_heads_path(net: str, version: str = "0.1") -> Path:
    """The installed ``lpips`` wheel's linear-head file, found without importing lpips."""
    spec = importlib.util.find_spec("lpips")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("the 'lpips' package is not installed: pip install --no-deps lpips")
    path = Path(next(iter(spec.submodule_search_locations))) / "weights" / f"v{version}" / \
        f"{net}.pth"
    if not path.is_file():
        raise UserError(f"lpips heads not found: {path}")
    return path


class LPIPS(nn.Module):
    """LPIPS v0.1 distance; inputs RGB N×3×H×W in [0, 1] (``normalize=True``) or [−1, 1].

    ``allow_random_weights`` uses a seeded random backbone when no verified file exists;
    ``record['calibrated']`` is then False and callers must label the numbers uncalibrated.
    """

    shift: torch.Tensor
    scale: torch.Tensor

    def __init__(self, net: str = "alex", backbone_path: str | None = None,
                 allow_random_weights: bool = False, seed: int = 0,
                 weights_dir: str | None = None):
        super().__init__()
        from stylestudy.generator.weights import load_state_dict

        if net not in TAPS:
            raise UserError(f"LPIPS backbone must be 'alex' or 'vgg', got {net!r}")
        self.net = net
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.features = trunk(net)
        sd, record = load_state_dict(WEIGHT_NAMES[net], path=backbone_path,
                                     allow_random=allow_random_weights, seed=seed,
                                     weights_dir=weights_dir)
        if sd is not None:
            feats = {k.removeprefix("features."): v for k, v in sd.items()
                     if k.startswith("features.") and int(k.split(".")[1]) < len(self.features)}
            self.features.load_state_dict(feats)
        self.record: dict[str, Any] = dict(record)
        heads = torch.load(lpips_heads_path(net), map_location="cpu", weights_only=True)
        self.lins = nn.ParameterList(
            [nn.Parameter(heads[f"lin{i}.model.1.weight"], requires_grad=False)
             for i in range(len(TAPS[net]))])
        self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1))
        self.eval().requires_grad_(False)

    def forward(self, x: torch.Tensor, y: torch.Tensor, normalize: bool = False) -> torch.Tensor:
        """Distance per pair, shape N."""
        if normalize:
            x, y = 2 * x - 1, 2 * y - 1
        fx = self._taps((x - self.shift) / self.scale)
        fy = self._taps((y - self.shift) / self.scale)
        total = torch.zeros((), dtype=x.dtype, device=x.device)
        for a, b, w in zip(fx, fy, self.lins, strict=True):
            a = a / (torch.sqrt((a * a).sum(dim=1, keepdim=True)) + 1e-10)
            b = b / (torch.sqrt((b * b).sum(dim=1, keepdim=True)) + 1e-10)
            d = nn.functional.conv2d((a - b) ** 2, w)
            total = total + d.mean(dim=(2, 3))
        return total.view(-1)

    def _taps(self, x: torch.Tensor) -> list[torch.Tensor]:
        out, taps = [], set(TAPS[self.net])
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in taps:
                out.append(x)
        return out


def lpips(x: torch.Tensor, y: torch.Tensor, net: str = "alex", **kwargs) -> torch.Tensor:
    """LPIPS v0.1 of RGB N×3×H×W images in [0, 1] (builds the model each call)."""
    return LPIPS(net, **kwargs).to(x.device)(x, y, normalize=True)
