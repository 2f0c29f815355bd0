"""Diversity across styles: the mean pairwise LPIPS distance between the outputs of one
content image made with different style images (exemplars).

This is the multimodality measure of MUNIT (Huang et al., ECCV 2018, §5.2: the average LPIPS
distance between pairs of outputs of the same input), with exemplars in place of random style
codes: 0 when a method ignores the exemplar, larger when the exemplar changes the output.
LPIPS v0.1 (``stylestudy.analysis.lpips``) needs at least 31 px for its AlexNet trunk, so images
whose short side is below :data:`MIN_SIDE` are upscaled (Lanczos, aspect kept) before comparing;
the rows record the size compared.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from stylestudy.analysis.lpips import LPIPS
from stylestudy.analysis.metrics import MetricJob
from stylestudy.generator.imageops import resize

__all__ = ["MIN_SIDE", "column_name", "compare_shape", "diversity_table", "mean_pairwise",
           "summarise", "write_diversity"]

#: images with a shorter side are upscaled to it before LPIPS
MIN_SIDE = 64


def compare_shape(shape: tuple[int, ...]) -> tuple[int, int]:
    """(H, W) at which images of ``shape`` are compared: upscaled so the short side is at
    least :data:`MIN_SIDE`, aspect kept."""
    h, w = int(shape[0]), int(shape[1])
    scale = max(1.0, MIN_SIDE / min(h, w))
    return round(h * scale), round(w * scale)


def column_name(model: LPIPS) -> str:
    """``lpips_<net>_diversity``, marked uncalibrated for a random backbone."""
    suffix = "" if model.record.get("calibrated") else "_uncalibrated_random_backbone"
    return f"lpips_{model.net}_diversity{suffix}"


@torch.inference_mode()
def mean_pairwise(model: LPIPS, images: Sequence[np.ndarray], batch: int = 64) -> float:
    """Mean LPIPS over the unordered pairs of ``images`` (uint8 H×W×3, at least two); all
    are brought to the first image's :func:`compare_shape`."""
    if len(images) < 2:
        raise ValueError("diversity needs at least two images")
    shape = compare_shape(images[0].shape)
    x = torch.from_numpy(np.stack([resize(im, shape) for im in images])).permute(0, 3, 1, 2)
    x = x.float().to(next(model.buffers()).device) / 255
    pairs = list(itertools.combinations(range(len(images)), 2))
    total = 0.0
    for k in range(0, len(pairs), batch):
        i, j = zip(*pairs[k:k + batch], strict=True)
        total += float(model(x[list(i)], x[list(j)], normalize=True).sum())
    return total / len(pairs)


def diversity_table(jobs: Iterable[MetricJob], model: LPIPS) -> pd.DataFrame:
    """One row per (method, content) whose outputs use at least two different styles: the mean
    LPIPS over pairs of outputs with different styles (one output per style: the first)."""
    groups: dict[tuple[str, str], dict[str, MetricJob]] = {}
    for job in jobs:
        groups.setdefault((job.method, job.content_id), {}).setdefault(job.style_id, job)
    col = column_name(model)
    rows = []
    for (method, content_id), by_style in groups.items():
        if len(by_style) < 2:
            continue
        images = [j.load_output() for j in by_style.values()]
        h, w = compare_shape(images[0].shape)
        rows.append({"method": method, "content_id": content_id, "n_styles": len(images),
                     "n_pairs": len(images) * (len(images) - 1) // 2,
                     "compared_height": h, "compared_width": w,
                     col: mean_pairwise(model, images)})
    return pd.DataFrame(rows, columns=["method", "content_id", "n_styles", "n_pairs",
                                       "compared_height", "compared_width", col])


def summarise(table: pd.DataFrame) -> pd.DataFrame:
    """Per method: contents scored, mean and standard deviation of the diversity."""
    col = next(c for c in table.columns if "_diversity" in c)
    return table.groupby("method")[col].agg(contents="count", mean="mean", std="std")


def write_diversity(jobs: Iterable[MetricJob], out_csv: str | os.PathLike, net: str = "alex",
                    device: str = "cpu", allow_random_weights: bool = False,
                    backbone: str | None = None) -> pd.DataFrame | None:
    """Score and write :func:`diversity_table` to ``out_csv``; None (and no file) when no
    content has outputs for two styles."""
    jobs = list(jobs)
    counts: dict[tuple[str, str], set[str]] = {}
    for j in jobs:
        counts.setdefault((j.method, j.content_id), set()).add(j.style_id)
    if not any(len(s) > 1 for s in counts.values()):
        return None
    model = LPIPS(net, backbone_path=backbone, allow_random_weights=allow_random_weights)
    table = diversity_table(jobs, model.to(device))
    Path(out_csv).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out_csv, index=False)
    return table
