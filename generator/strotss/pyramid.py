"""Image resizing and the Laplacian pyramid exactly as the official STROTSS code does them.

Two interpolation conventions coexist in the official code (docs/methods-strotss.md):
image resizes use ``F.upsample(mode='bilinear')`` (align_corners=False, no antialiasing),
the pyramid uses ``F.upsample_bilinear`` (align_corners=True).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["resize", "resize_long_side", "laplacian_band", "decompose", "synthesise"]


def resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear, align_corners=False, no antialiasing (``utils.load_path_for_pytorch``)."""
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def resize_long_side(x: torch.Tensor, long_side: int) -> torch.Tensor:
    """Scale so the long side is ``long_side``: size (int(H·f), int(W·f)), f = L / max(H, W)."""
    h, w = x.shape[-2:]
    fac = float(long_side) / max(h, w)
    return resize(x, (int(h * fac), int(w * fac)))


def laplacian_band(x: torch.Tensor) -> torch.Tensor:
    """x − up(down(x)), down to (⌊h/2⌋, ⌊w/2⌋), both align_corners=False (``run_st``)."""
    h, w = x.shape[-2:]
    return x - resize(resize(x, (h // 2, w // 2)), (h, w))


def _ac(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(x, size=size, mode="bilinear", align_corners=True)


def decompose(x: torch.Tensor, levels: int = 5) -> list[torch.Tensor]:
    """``pyr_lap.dec_lap_pyr``: ``levels`` bands plus the residual (align_corners=True)."""
    pyr = []
    cur = x
    for _ in range(levels):
        h, w = cur.shape[-2:]
        small = _ac(cur, (max(h // 2, 1), max(w // 2, 1)))
        pyr.append(cur - _ac(small, (h, w)))
        cur = small
    pyr.append(cur)
    return pyr


def synthesise(pyr: list[torch.Tensor]) -> torch.Tensor:
    """``pyr_lap.syn_lap_pyr``: x = b0 + up(b1 + up(b2 + …))."""
    cur = pyr[-1]
    for band in reversed(pyr[:-1]):
        cur = band + _ac(cur, tuple(band.shape[-2:]))
    return cur
