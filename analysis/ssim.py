"""SSIM exactly as Wang et al. 2004 (``ssim_index.m``), batched in torch (docs/analysis.md).

11×11 Gaussian window, σ = 1.5, normalised to sum 1; 'valid' filtering (the map is
(H − 10) × (W − 10)); population variances and covariance; K1 = 0.01, K2 = 0.03,
C1 = (K1·L)², C2 = (K2·L)²; SSIM = mean of the map. ``data_range`` L is always explicit.
Colour is declared: ``'y'`` (BT.601 luma Y = 0.299R + 0.587G + 0.114B, as the reference's
grayscale input; primary), ``'rgb'`` (per-channel SSIM, then the mean: what libraries do
with a channel axis) or ``'gray'`` (single-channel input). ``downsample=True`` is the
``ssim.m`` variant (f = max(1, round(min(H, W)/256)), f×f block means), never the default.

The window is separable, so each plane is filtered by 11 row then 11 column shifted
multiply-adds. On CPU the planes are processed one at a time (each stays in cache) on a
small thread pool; on other devices one grouped convolution filters the whole batch.
Inputs are centred per plane before the second moments are formed (the variance is
shift-invariant), which keeps float32 close to float64.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["SSIM", "gaussian_window", "rgb_to_y", "ssim"]

K1, K2, WINDOW, SIGMA = 0.01, 0.03, 11, 1.5
#: ITU-R BT.601 luma weights (MATLAB rgb2gray uses the same, rounded to 4 digits)
BT601 = (0.299, 0.587, 0.114)

_pool: ThreadPoolExecutor | None = None


def _executor() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max(1, min(torch.get_num_threads(), os.cpu_count() or 1)))
    return _pool


def gaussian_window(size: int = WINDOW, sigma: float = SIGMA,
                    dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """1-D Gaussian taps whose outer product is ``fspecial('gaussian', size, sigma)``."""
    k = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-(k ** 2) / (2 * sigma ** 2))
    return torch.from_numpy(g / g.sum()).to(dtype)


def rgb_to_y(x: torch.Tensor) -> torch.Tensor:
    """BT.601 luma of an N×3×H×W RGB tensor, N×1×H×W, same range."""
    w = torch.tensor(BT601, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * w).sum(dim=1, keepdim=True)


def _filter_plane(p: torch.Tensor, taps: list[float]) -> torch.Tensor:
    """'valid' separable filtering of one H×W plane (or a stack ...×H×W) by shifted adds."""
    n = len(taps)
    W = p.shape[-1] - n + 1
    h = p[..., :, 0:W] * taps[0]
    for i in range(1, n):
        h.add_(p[..., :, i:i + W], alpha=taps[i])
    H = p.shape[-2] - n + 1
    v = h[..., 0:H, :] * taps[0]
    for i in range(1, n):
        v.add_(h[..., i:i + H, :], alpha=taps[i])
    return v


def _ssim_plane(x: torch.Tensor, y: torch.Tensor, taps: list[float], c1: float,
                c2: float) -> torch.Tensor:
    """Mean SSIM of two H×W planes."""
    cx, cy = x.mean(), y.mean()
    x, y = x - cx, y - cy
    mx, my = _filter_plane(x, taps), _filter_plane(y, taps)
    sxx = _filter_plane(x * x, taps) - mx * mx
    syy = _filter_plane(y * y, taps) - my * my
    sxy = _filter_plane(x * y, taps) - mx * my
    mx, my = mx + cx, my + cy
    num = (2 * mx * my + c1) * (2 * sxy + c2)
    den = (mx * mx + my * my + c1) * (sxx + syy + c2)
    return (num / den).mean()


def _ssim_batched(x: torch.Tensor, y: torch.Tensor, taps: torch.Tensor, c1: float,
                  c2: float) -> torch.Tensor:
    """Per-plane mean SSIM, N×C, with one grouped convolution (GPU path)."""
    N, C, H, W = x.shape
    cx = x.mean(dim=(-2, -1), keepdim=True)
    cy = y.mean(dim=(-2, -1), keepdim=True)
    x, y = x - cx, y - cy
    maps = torch.cat([x, y, x * x, y * y, x * y], dim=1)
    g = maps.shape[1]
    k = taps.to(maps)
    f = F.conv2d(maps, k.view(1, 1, 1, -1).expand(g, 1, 1, -1), groups=g)
    f = F.conv2d(f, k.view(1, 1, -1, 1).expand(g, 1, -1, 1), groups=g)
    mx, my, exx, eyy, exy = f.split(C, dim=1)
    sxx, syy, sxy = exx - mx * mx, eyy - my * my, exy - mx * my
    mx, my = mx + cx, my + cy
    num = (2 * mx * my + c1) * (2 * sxy + c2)
    den = (mx * mx + my * my + c1) * (sxx + syy + c2)
    return (num / den).mean(dim=(-2, -1))


def ssim(x: torch.Tensor, y: torch.Tensor, data_range: float, colour: str = "y",
         downsample: bool = False) -> torch.Tensor:
    """Wang et al. 2004 SSIM of each image pair: N×C×H×W (or C×H×W, H×W) → N values.

    The computation runs in the inputs' floating dtype (float64 is the reference;
    float32 agrees to ~1e-6); integer inputs are converted to float64.
    """
    if x.shape != y.shape:
        raise ValueError(f"shapes differ: {tuple(x.shape)} vs {tuple(y.shape)}")
    while x.dim() < 4:
        x, y = x.unsqueeze(0), y.unsqueeze(0)
    if not x.is_floating_point():
        x, y = x.double(), y.double()
    if colour == "y":
        if x.shape[1] == 3:
            x, y = rgb_to_y(x), rgb_to_y(y)
        elif x.shape[1] != 1:
            raise ValueError("colour='y' needs RGB (3 channels) or gray input")
    elif colour == "gray" and x.shape[1] != 1:
        raise ValueError("colour='gray' needs single-channel input")
    elif colour not in ("rgb", "gray"):
        raise ValueError(f"colour must be 'y', 'rgb' or 'gray', got {colour!r}")
    if downsample:
        f = max(1, round(min(x.shape[-2:]) / 256))
        if f > 1:
            x, y = F.avg_pool2d(x, f), F.avg_pool2d(y, f)
    if min(x.shape[-2:]) < WINDOW:
        raise ValueError(f"images must be at least {WINDOW}×{WINDOW} pixels")
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    taps = gaussian_window(dtype=torch.float64)
    if x.device.type != "cpu":
        return _ssim_batched(x, y, taps, c1, c2).mean(dim=1)
    N, C = x.shape[:2]
    tl = taps.tolist()
    planes = [(x[n, c].contiguous(), y[n, c].contiguous()) for n in range(N) for c in range(C)]
    with torch.inference_mode():
        vals = list(_executor().map(lambda p: _ssim_plane(p[0], p[1], tl, c1, c2), planes))
    return torch.stack(vals).view(N, C).mean(dim=1)


class SSIM(nn.Module):
    """Module wrapper of :func:`ssim` with a fixed data range and colour convention."""

    def __init__(self, data_range: float = 255.0, colour: str = "y", downsample: bool = False):
        super().__init__()
        self.data_range, self.colour, self.downsample = data_range, colour, downsample

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return ssim(x, y, self.data_range, self.colour, self.downsample)
