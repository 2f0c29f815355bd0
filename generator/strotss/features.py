"""The STROTSS hypercolumn: raw RGB plus nine VGG16 ReLU maps (``vgg_pt.forward_base``).

Taps relu1_1, relu1_2, relu2_1, relu2_2, relu3_1, relu3_2, relu3_3, relu4_3, relu5_3 of the
shared encoder (``stylestudy.generator.encoder``); the unnormalised image in [0, 1] is prepended;
total 3 + 64·2 + 128·2 + 256·3 + 512·2 = 2179 channels (docs/methods-strotss.md). The VGG input
is ImageNet-normalised (official commit ``c4f0abf``).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from stylestudy.generator.encoder import Encoder

__all__ = ["TAPS", "CHANNELS", "HYPERCOLUMN_DIM", "Hypercolumn", "gather_bilinear",
           "gather_floor"]

TAPS = ("relu1_1", "relu1_2", "relu2_1", "relu2_2", "relu3_1", "relu3_2", "relu3_3",
        "relu4_3", "relu5_3")
CHANNELS = (3, 64, 64, 128, 128, 256, 256, 256, 512, 512)
HYPERCOLUMN_DIM = sum(CHANNELS)  # 2179
#: maps with at most this many positions are read through a dense weight matrix
DENSE_MAX_POSITIONS = 1024


class Hypercolumn(nn.Module):
    """Maps an image (N×3×H×W, [0, 1]) to the 10 feature maps of the hypercolumn.

    Built from the VGG16 ``features`` module (verified ImageNet weights); the encoder runs
    in channels-last memory order (faster on CPU; the maps are the same up to float
    rounding), and the gathers below read the maps as (H·W) × C rows.
    """

    def __init__(self, vgg16_features: nn.Sequential):
        super().__init__()
        self.encoder = Encoder(vgg16_features, "vgg16", "torchvision", TAPS,
                               channels_last=True)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [x, *self.encoder(x).values()]


class _RowGather(torch.autograd.Function):
    """``rows.index_select(0, idx)`` whose backward adds with sorted indices.

    CPU ``index_add_`` is far slower with unsorted indices than with sorted ones; the sum
    is the same (up to float summation order).
    """

    @staticmethod
    def forward(ctx, rows: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        order = torch.argsort(idx, stable=True)
        ctx.save_for_backward(order, idx.index_select(0, order))
        ctx.shape = rows.shape
        return rows.index_select(0, idx)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        order, sidx = ctx.saved_tensors
        out = grad.new_zeros(ctx.shape)
        return out.index_add_(0, sidx, grad.index_select(0, order)), None


def gather_rows(rows: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Rows ``idx`` of a 2-D tensor, with the fast sorted-index backward."""
    if not rows.requires_grad:
        return rows.index_select(0, idx)
    return _RowGather.apply(rows, idx)


def _rows(m: torch.Tensor) -> torch.Tensor:
    """A 1×C×H×W map as (H·W) × C rows (a view for channels-last maps)."""
    return m[0].permute(1, 2, 0).reshape(m.shape[2] * m.shape[3], m.shape[1])


def _level_positions(maps: list[torch.Tensor], rows: np.ndarray, cols: np.ndarray):
    """Yield (map, rows, cols) with positions halved whenever the map height shrinks."""
    r, c = rows.astype(np.float64), cols.astype(np.float64)
    for i, m in enumerate(maps):
        if i > 0 and maps[i - 1].shape[2] > m.shape[2]:
            r, c = r / 2.0, c / 2.0
        yield m, r, c


def gather_bilinear(maps_list: list[list[torch.Tensor]], rows: np.ndarray, cols: np.ndarray
                    ) -> list[torch.Tensor]:
    """Bilinear hypercolumn reads at (rows, cols) for each map list (n × 2179 each).

    ``stylize_objectives.spatial_feature_extract``: positions are halved per pooling without
    pixel-centre correction; the floor and floor+1 neighbours are clamped to the border, the
    weights come from the unclamped fractional part. All map lists share the same geometry
    (output and content at the same scale) and the same indices.
    """
    outs: list[list[torch.Tensor]] = [[] for _ in maps_list]
    ref = maps_list[0]
    for level, (m, r, c) in enumerate(_level_positions(ref, rows, cols)):
        hh, ww = m.shape[2], m.shape[3]
        rf, cf = np.floor(r), np.floor(c)
        fr, fc = r - rf, c - cf
        r0 = np.clip(rf.astype(np.int64), 0, hh - 1)
        c0 = np.clip(cf.astype(np.int64), 0, ww - 1)
        r1, c1 = np.clip(r0 + 1, 0, hh - 1), np.clip(c0 + 1, 0, ww - 1)
        idx = torch.from_numpy(np.concatenate([r0 * ww + c0, r0 * ww + c1,
                                               r1 * ww + c0, r1 * ww + c1])).to(m.device)
        wts = torch.from_numpy(np.stack([(1 - fr) * (1 - fc), (1 - fr) * fc,
                                         fr * (1 - fc), fr * fc]).astype(np.float32)
                               ).to(m.device).unsqueeze(2)  # 4 × n × 1
        n = len(r)
        if hh * ww <= DENSE_MAX_POSITIONS:
            # small maps: many samples share a position, and a dense n × (h·w) weight
            # matrix product is faster (and steadier) than scattering 4n rows back
            dense = torch.zeros(n * hh * ww, device=m.device)
            flat = torch.arange(n, device=m.device).repeat(4) * (hh * ww) + idx
            dense.index_add_(0, flat, wts.flatten())
            for k, maps in enumerate(maps_list):
                outs[k].append(dense.view(n, hh * ww) @ _rows(maps[level]))
            continue
        for k, maps in enumerate(maps_list):
            g = gather_rows(_rows(maps[level]), idx).view(4, n, -1)
            outs[k].append((g * wts).sum(0))
    return [torch.cat(o, 1) for o in outs]


def gather_floor(maps: list[torch.Tensor], rows: np.ndarray, cols: np.ndarray) -> torch.Tensor:
    """Nearest (truncating) hypercolumn reads, n × 2179 (``vgg_pt.forward_cat``, style side).

    Positions are halved per pooling, truncated and clamped level by level, as the official
    loop does.
    """
    r, c = rows.astype(np.float64), cols.astype(np.float64)
    out = []
    for i, m in enumerate(maps):
        if i > 0 and m.shape[2] < maps[i - 1].shape[2]:
            r, c = r / 2.0, c / 2.0
        r = np.clip(r, 0, m.shape[2] - 1).astype(np.int32)
        c = np.clip(c, 0, m.shape[3] - 1).astype(np.int32)
        idx = torch.from_numpy(r.astype(np.int64) * m.shape[3] + c).to(m.device)
        out.append(gather_rows(_rows(m), idx))
    return torch.cat(out, 1)
