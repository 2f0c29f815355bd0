"""The STROTSS coarse-to-fine optimisation (``styleTransfer.run_st``,
``st_helper.style_transfer``; ``specs/strotss.md`` §1.3–1.4)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from generator.imageops import output_shape
from generator.strotss.features import Hypercolumn, gather_bilinear, gather_floor
from generator.strotss.guidance import augment_points, mask_at
from generator.strotss.losses import (
    StyleStats,
    combine,
    moment_loss,
    pair_cosine,
    remd_cosine,
    remd_palette,
    self_similarity_loss,
)
from generator.strotss.pyramid import (
    decompose,
    laplacian_band,
    resize,
    resize_long_side,
    synthesise,
)
from generator.strotss.sampling import OutputSampler, style_positions

__all__ = ["SMALLEST_SIDE", "ITERATIONS", "LR", "LR_LAST", "PYRAMID_LEVELS", "WEIGHT_SCALE",
           "Config", "Scale", "schedule", "stylize"]

#: ``run_st``: ``smll_sz = 64``, long side 64·2^(k−1) at scale k
SMALLEST_SIDE = 64
#: ``st_helper.style_transfer``: ``MAX_ITER = 250``
ITERATIONS = 250
#: ``run_st``: lr 2e-3, 1e-3 at the last scale; RMSprop otherwise at torch defaults
LR, LR_LAST = 2e-3, 1e-3
#: ``dec_lap_pyr(x, 5)``
PYRAMID_LEVELS = 5
#: ``__main__``: α₁ = 16 × WEIGHT, halved after each scale (``run_st``)
WEIGHT_SCALE = 16.0


@dataclass(frozen=True)
class Config:
    """What one STROTSS run needs beyond the images (defaults: the official code)."""

    size: int = 512
    content_weight: float = 1.0
    iterations: int = ITERATIONS
    variant: str = "official"  # or "paper"
    sampling: str = "random"  # or "strided" (official use_random=False)
    region_pairing: str = "in-region"  # or "official" (independent shuffles inside masks)


@dataclass(frozen=True)
class Scale:
    long_side: int
    alpha: float
    lr: float
    first: bool
    last: bool


def schedule(size: int, content_weight: float) -> list[Scale]:
    """Scales for an output long side ``size``.

    K = 1 + ⌊log2(size / 64)⌋ scales (at least one) with long sides size / 2^(K−k); for
    size = 64·2^j this is the official 64·2^(k−1), k = 1 … MAX_SCL−1 with MAX_SCL = j + 2.
    α_k = 16·WEIGHT / 2^(k−1); lr 2e-3 except 1e-3 at the last scale.
    """
    k_total = max(1, 1 + math.floor(math.log2(size / SMALLEST_SIDE))) if size >= 1 else 1
    return [Scale(long_side=int(size / 2 ** (k_total - k)),
                  alpha=WEIGHT_SCALE * content_weight / 2 ** (k - 1),
                  lr=LR_LAST if k == k_total else LR, first=k == 1, last=k == k_total)
            for k in range(1, k_total + 1)]


@dataclass
class _Region:
    sampler: OutputSampler
    style: StyleStats
    moment_mean: torch.Tensor
    moment_cov: torch.Tensor


@dataclass
class _Points:
    rows: np.ndarray
    cols: np.ndarray
    feats: torch.Tensor  # n_g × 2179 style features


@dataclass
class RunInfo:
    """Per-scale sizes, α, lr, timings and final loss of one run."""

    scales: list[dict[str, Any]] = field(default_factory=list)


def _to_tensor(img: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32)).permute(2, 0, 1)[
        None].to(device)


def stylize(content: np.ndarray, style: np.ndarray, features: Hypercolumn, config: Config,
            seed: int = 0, regions: list[tuple[np.ndarray, np.ndarray]] | None = None,
            points: np.ndarray | None = None,
            progress: Callable[[int, int], None] | None = None,
            ) -> tuple[np.ndarray, RunInfo]:
    """Run STROTSS; returns the output (H×W×3 float32 in [0, 1]) and per-scale information.

    ``regions``: (content mask, style mask) pairs at the guides' resolution (default: one
    all-ones region); ``points``: rows (content r, c, style r, c) in pixels of the inputs.
    """
    device = next(features.parameters()).device
    rng = np.random.default_rng(seed)
    c_full, s_full = _to_tensor(content, device), _to_tensor(style, device)
    if not regions:
        regions = [(np.ones(content.shape[:2], np.float32), np.ones(style.shape[:2], np.float32))]
    gpts = augment_points(points, content.shape[:2], style.shape[:2]) \
        if points is not None and len(points) else None
    info = RunInfo()
    x: torch.Tensor | None = None
    for scale in schedule(config.size, config.content_weight):
        t0 = time.perf_counter()
        if scale.last:  # the runner's output shape (rounded), see docs/methods-strotss.md
            c = resize(c_full, output_shape(*content.shape[:2], scale.long_side))
        else:
            c = resize_long_side(c_full, scale.long_side)
        s = resize_long_side(s_full, scale.long_side)
        hw = tuple(c.shape[-2:])
        if scale.first:
            x = s.mean(2, keepdim=True).mean(3, keepdim=True) + laplacian_band(c)
        elif not scale.last:
            x = resize(x, hw) + laplacian_band(c)
        if scale.last:
            x = resize(x, hw)
        with torch.no_grad():
            zc, zs = features(c), features(s)
        pts = None
        if gpts is not None:
            pts = _Points(rows=(gpts[:, 0] * hw[0]).astype(np.int64),
                          cols=(gpts[:, 1] * hw[1]).astype(np.int64),
                          feats=gather_bilinear(
                              [zs], (gpts[:, 2] * s.shape[2]).astype(np.int64),
                              (gpts[:, 3] * s.shape[3]).astype(np.int64))[0])
        style_sets = []
        for _, smask in regions:
            sr, sc = style_positions(mask_at(smask, tuple(s.shape[-2:])), rng, config.sampling)
            style_sets.append(StyleStats.from_features(gather_floor(zs, sr, sc),
                                                       keys=np.stack([sr, sc], 1)))
        del zs  # the style maps are not needed past this point (peak memory at 512 px)
        state = []
        for (cmask, _), st in zip(regions, style_sets, strict=True):
            m = mask_at(cmask, hw)
            pairing = "independent" if (m.all() or config.region_pairing == "official") \
                else "joint"
            sampler = OutputSampler.grid(m, rng, config.sampling, pairing)
            if pts is not None:
                both = torch.cat([st.feats, pts.feats], 0)
                mu = both.mean(0, keepdim=True)
                cov = (both - mu).t() @ (both - mu) / both.shape[0]
            else:
                mu, cov = st.mean, st.cov
            state.append(_Region(sampler, st, mu, cov))
        setup_s = time.perf_counter() - t0
        x, loss = _optimise_scale(x, zc, features, state, pts, scale, config, rng, progress)
        info.scales.append({"long_side": scale.long_side, "size": list(hw),
                            "alpha": scale.alpha, "lr": scale.lr,
                            "setup_s": round(setup_s, 3),
                            "seconds": round(time.perf_counter() - t0, 3),
                            "final_loss": loss})
    out = torch.clamp(x[0], 0.0, 1.0).permute(1, 2, 0).cpu().numpy()
    return out, info


def _optimise_scale(x0: torch.Tensor, zc: list[torch.Tensor], features: Hypercolumn,
                    regions: list[_Region], pts: _Points | None, scale: Scale, config: Config,
                    rng: np.random.Generator, progress: Callable[[int, int], None] | None,
                    ) -> tuple[torch.Tensor, float]:
    """RMSprop over the 6 pyramid tensors; returns the image synthesised at the start of the
    last iteration (what ``style_transfer`` returns) and that iteration's loss."""
    pyr = [b.detach().requires_grad_(True) for b in decompose(x0.detach(), PYRAMID_LEVELS)]
    opt = torch.optim.RMSprop(pyr, lr=scale.lr)
    times_n = config.variant != "paper"
    x, value = x0, float("nan")
    for i in range(config.iterations):
        opt.zero_grad(set_to_none=True)
        x = synthesise(pyr)
        zx = features(x)
        gx = gather_bilinear([zx], pts.rows, pts.cols)[0] if pts is not None else None
        total = 0.0
        for reg in regions:
            rows, cols = reg.sampler.draw(rng)
            xs, cs = gather_bilinear([zx, zc], rows, cols)
            content = self_similarity_loss(xs, cs, times_n=times_n)
            remd = remd_cosine(xs, reg.style.unit, reg.style.weight)
            mom_x = xs
            if gx is not None:
                remd = remd + pair_cosine(gx, pts.feats).sum() / gx.shape[0]
                mom_x = torch.cat([xs, gx], 0)
            moment = moment_loss(mom_x, reg.moment_mean, reg.moment_cov)
            palette = remd_palette(xs[:, :3], reg.style.yuv, reg.style.weight)
            total = total + combine(content, remd, moment, palette, scale.alpha, config.variant)
        loss = total / len(regions)
        value = float(loss.detach())
        if i == config.iterations - 1:
            break  # the official last step never reaches the returned image
        loss.backward()
        opt.step()
        if progress is not None:
            progress(i + 1, config.iterations)
    return x.detach(), value
