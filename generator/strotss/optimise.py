"""The STROTSS coarse-to-fine optimisation (``styleTransfer.run_st``,
``st_helper.style_transfer``; docs/methods-strotss.md)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from stylestudy.generator.encoder import covariance
from stylestudy.generator.imageops import output_shape
from stylestudy.generator.strotss.features import Hypercolumn, gather_bilinear, gather_floor
from stylestudy.generator.strotss.guidance import augment_points, mask_at
from stylestudy.generator.strotss.losses import (
    TERMS,
    StyleStats,
    combine,
    moment_loss,
    pair_cosine,
    remd_cosine,
    remd_palette,
    self_similarity_loss,
)
from stylestudy.generator.strotss.pyramid import (
    decompose,
    laplacian_band,
    resize,
    resize_long_side,
    synthesise,
)
from stylestudy.generator.strotss.sampling import OutputSampler, style_positions

__all__ = ["SMALLEST_SIDE", "ITERATIONS", "LR", "LR_LAST", "PYRAMID_LEVELS", "WEIGHT_SCALE",
           "Config", "Scale", "Task", "RunInfo", "schedule", "stylize", "stylize_batch"]

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
    #: the loss terms switched on (ablations drop some; see ``losses.combine``)
    terms: tuple[str, ...] = TERMS


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


@dataclass(frozen=True)
class Task:
    """One (content, style) pair to stylise (H×W×3 float images in [0, 1]).

    ``regions``: (content mask, style mask) pairs at the guides' resolution (default: one
    all-ones region); ``points``: rows (content r, c, style r, c) in pixels of the inputs.
    """

    content: np.ndarray
    style: np.ndarray
    seed: int = 0
    regions: list[tuple[np.ndarray, np.ndarray]] | None = None
    points: np.ndarray | None = None


@dataclass
class RunInfo:
    """Per-scale sizes, α, lr, timings and final loss of one run."""

    scales: list[dict[str, Any]] = field(default_factory=list)


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
class _Pair:
    """One task's own state: its random stream, guidance, and per-scale statistics."""

    content: torch.Tensor  # 1×3×H×W, full resolution
    style: torch.Tensor
    rng: np.random.Generator
    regions: list[tuple[np.ndarray, np.ndarray]]
    points: np.ndarray | None  # augmented, normalised (augment_points)
    info: RunInfo = field(default_factory=RunInfo)
    zc: list[torch.Tensor] = field(default_factory=list)
    state: list[_Region] = field(default_factory=list)
    pts: _Points | None = None
    loss: torch.Tensor | None = None


def _to_tensor(img: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32)).permute(2, 0, 1)[
        None].to(device)


def _pair(task: Task, device: torch.device) -> _Pair:
    regions = task.regions or [(np.ones(task.content.shape[:2], np.float32),
                                np.ones(task.style.shape[:2], np.float32))]
    pts = task.points
    gpts = augment_points(pts, task.content.shape[:2], task.style.shape[:2]) \
        if pts is not None and len(pts) else None
    return _Pair(content=_to_tensor(task.content, device), style=_to_tensor(task.style, device),
                 rng=np.random.default_rng(task.seed), regions=regions, points=gpts)


def stylize(content: np.ndarray, style: np.ndarray, features: Hypercolumn, config: Config,
            seed: int = 0, regions: list[tuple[np.ndarray, np.ndarray]] | None = None,
            points: np.ndarray | None = None,
            progress: Callable[[int, int], None] | None = None,
            ) -> tuple[np.ndarray, RunInfo]:
    """Run STROTSS on one pair; returns the output (H×W×3 float32 in [0, 1]) and per-scale
    information (see :class:`Task` for ``regions`` and ``points``)."""
    return stylize_batch([Task(content, style, seed, regions, points)], features, config,
                         progress)[0]


def stylize_batch(tasks: list[Task], features: Hypercolumn, config: Config,
                  progress: Callable[[int, int], None] | None = None,
                  ) -> list[tuple[np.ndarray, RunInfo]]:
    """Run STROTSS on several pairs at once: one VGG pass per iteration for all outputs.

    The contents must share one shape. Each pair keeps its own random stream, guidance,
    statistics and loss, and RMSprop acts element-wise, so each result is the lone run's
    up to float rounding in the batched convolutions.
    """
    if not tasks:
        return []
    shape = tasks[0].content.shape[:2]
    if any(t.content.shape[:2] != shape for t in tasks):
        raise ValueError("stylize_batch: all contents must have the same shape")
    device = next(features.parameters()).device
    pairs = [_pair(t, device) for t in tasks]
    x: torch.Tensor | None = None
    for scale in schedule(config.size, config.content_weight):
        t0 = time.perf_counter()
        if scale.last:  # the runner's output shape (rounded), see docs/methods-strotss.md
            c = torch.cat([resize(p.content, output_shape(*shape, scale.long_side))
                           for p in pairs])
        else:
            c = torch.cat([resize_long_side(p.content, scale.long_side) for p in pairs])
        hw = tuple(c.shape[-2:])
        styles = [resize_long_side(p.style, scale.long_side) for p in pairs]
        if scale.first:
            x = torch.cat([s.mean(2, keepdim=True).mean(3, keepdim=True) for s in styles]) \
                + laplacian_band(c)
        elif not scale.last:
            x = resize(x, hw) + laplacian_band(c)
        if scale.last:
            x = resize(x, hw)
        with torch.no_grad():
            zc = features(c)
        for b, (p, s) in enumerate(zip(pairs, styles, strict=True)):
            p.zc = [m[b:b + 1] for m in zc]
            _prepare_scale(p, s, hw, features, config)
        setup_s = time.perf_counter() - t0
        x = _optimise_scale(x, pairs, features, scale, config, progress)
        seconds = time.perf_counter() - t0
        for p in pairs:
            p.info.scales.append({"long_side": scale.long_side, "size": list(hw),
                                  "alpha": scale.alpha, "lr": scale.lr,
                                  "setup_s": round(setup_s, 3), "seconds": round(seconds, 3),
                                  "final_loss": float(p.loss)})
    out = torch.clamp(x, 0.0, 1.0).permute(0, 2, 3, 1).cpu().numpy()
    return [(out[b], p.info) for b, p in enumerate(pairs)]


def _prepare_scale(p: _Pair, s: torch.Tensor, hw: tuple[int, int], features: Hypercolumn,
                   config: Config) -> None:
    """One pair's style samples and statistics, output samplers and point features at one
    scale (``s``: its style image at this scale)."""
    with torch.no_grad():
        zs = features(s)
    p.pts = None
    if p.points is not None:
        g = p.points
        p.pts = _Points(rows=(g[:, 0] * hw[0]).astype(np.int64),
                        cols=(g[:, 1] * hw[1]).astype(np.int64),
                        feats=gather_bilinear([zs], (g[:, 2] * s.shape[2]).astype(np.int64),
                                              (g[:, 3] * s.shape[3]).astype(np.int64))[0])
    style_sets = []
    for _, smask in p.regions:
        sr, sc = style_positions(mask_at(smask, tuple(s.shape[-2:])), p.rng, config.sampling)
        style_sets.append(StyleStats.from_features(gather_floor(zs, sr, sc),
                                                   keys=np.stack([sr, sc], 1)))
    del zs  # the style maps are not needed past this point (peak memory at 512 px)
    p.state = []
    for (cmask, _), st in zip(p.regions, style_sets, strict=True):
        m = mask_at(cmask, hw)
        pairing = "independent" if (m.all() or config.region_pairing == "official") \
            else "joint"
        sampler = OutputSampler.grid(m, p.rng, config.sampling, pairing)
        if p.pts is not None:
            both = torch.cat([st.feats, p.pts.feats], 0)
            mu, cov = both.mean(0, keepdim=True), covariance(both)
        else:
            mu, cov = st.mean, st.cov
        p.state.append(_Region(sampler, st, mu, cov))


def _pair_loss(zx: list[torch.Tensor], p: _Pair, scale: Scale, config: Config
               ) -> torch.Tensor:
    """One pair's objective at one iteration (its output's maps ``zx``), averaged over its
    regions; draws this iteration's samples from the pair's own stream. Terms missing from
    ``config.terms`` are not computed and add nothing."""
    times_n = config.variant != "paper"
    on = config.terms
    pts = p.pts
    gx = gather_bilinear([zx], pts.rows, pts.cols)[0] if pts is not None else None
    total = 0.0
    for reg in p.state:
        rows, cols = reg.sampler.draw(p.rng)
        xs, cs = gather_bilinear([zx, p.zc], rows, cols)
        content = remd = moment = palette = None
        if "content" in on:
            content = self_similarity_loss(xs, cs, times_n=times_n)
        if "remd" in on:
            remd = remd_cosine(xs, reg.style.unit, reg.style.weight)
            if gx is not None:  # the guided pairs' term is part of ℓ_r (official code)
                remd = remd + pair_cosine(gx, pts.feats).sum() / gx.shape[0]
        if "moment" in on:
            mom_x = xs if gx is None else torch.cat([xs, gx], 0)
            moment = moment_loss(mom_x, reg.moment_mean, reg.moment_cov)
        if "palette" in on:
            palette = remd_palette(xs[:, :3], reg.style.yuv, reg.style.weight)
        total = total + combine(content, remd, moment, palette, scale.alpha, config.variant)
    return total / len(p.state)


def _optimise_scale(x0: torch.Tensor, pairs: list[_Pair], features: Hypercolumn,
                    scale: Scale, config: Config,
                    progress: Callable[[int, int], None] | None) -> torch.Tensor:
    """RMSprop over the 6 pyramid tensors (batched over the pairs); returns the images
    synthesised at the start of the last iteration (what ``style_transfer`` returns) and
    leaves that iteration's loss in each pair."""
    pyr = [b.detach().requires_grad_(True) for b in decompose(x0.detach(), PYRAMID_LEVELS)]
    opt = torch.optim.RMSprop(pyr, lr=scale.lr)
    x = x0
    for i in range(config.iterations):
        opt.zero_grad(set_to_none=True)
        x = synthesise(pyr)
        zx = features(x)
        losses = [_pair_loss([m[b:b + 1] for m in zx], p, scale, config)
                  for b, p in enumerate(pairs)]
        if i == config.iterations - 1:
            for p, loss in zip(pairs, losses, strict=True):
                p.loss = loss.detach()
            break  # the official last step never reaches the returned image
        sum(losses[1:], losses[0]).backward()  # the pairs' gradients do not mix
        opt.step()
        if progress is not None:
            progress(i + 1, config.iterations)
    return x.detach()
