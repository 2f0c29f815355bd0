"""Automatic metrics for every output of a comparison set (docs/analysis.md, "Metrics").

Per output: SSIM (wang04) against its content image in luminance (``ssim_y``, primary)
and per-RGB (``ssim_rgb``); LPIPS v0.1 alex and vgg against the content image; and, where
VGG19 weights exist, the Gatys Gram style distance against the style image.

Resizing: when an output's size differs from its content (the runner generates at a
requested long side), the content image is resized to the output's size with the runner's
own filter (``stylestudy.generator.imageops.resize``, Lanczos), so the reference is what the method
saw. For the Gram distance the style image is resized the same way to the output's size.
Rows are appended to the CSV batch by batch; a rerun skips outputs already scored
(``output_key``: the output's SHA-256, or ``method:path`` for an image table).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from stylestudy.analysis.lpips import LPIPS
from stylestudy.analysis.ssim import ssim
from stylestudy.db.judgments import item_id
from stylestudy.errors import UserError
from stylestudy.generator.imageops import resize

__all__ = ["GramStyle", "MetricJob", "jobs_for_set", "jobs_from_table", "score"]

#: Gatys et al. style layers (encoder taps of VGG19)
GRAM_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


@dataclass(frozen=True)
class MetricJob:
    """One output to score: identities and image loaders (uint8 H×W×3)."""

    key: str
    method: str
    item_id: str
    content_id: str
    style_id: str
    load_output: Callable[[], np.ndarray]
    load_content: Callable[[], np.ndarray]
    load_style: Callable[[], np.ndarray] | None = None
    generation_id: int | None = None


def jobs_for_set(set_name: str) -> list[MetricJob]:
    """Every finished generation of comparison set ``set_name``, as metric jobs."""
    from stylestudy.db.assets import load_pixels
    from stylestudy.db.engine import session_scope
    from stylestudy.db.queries import set_generations
    from stylestudy.db.states import GenerationState

    jobs = []
    with session_scope() as s:
        for g in set_generations(set_name, s):
            if g.status != GenerationState.DONE or g.output is None:
                continue
            out, content, style = g.output, g.content, g.style
            jobs.append(MetricJob(
                key=out.sha256, method=g.method.label, item_id=item_id(content, style),
                content_id=str(content.id), style_id=str(style.id), generation_id=g.id,
                load_output=partial(load_pixels, out),
                load_content=partial(load_pixels, content),
                load_style=partial(load_pixels, style)))
    if not jobs:
        raise UserError(f"comparison set {set_name!r} has no finished outputs to score")
    return jobs


def jobs_from_table(path: str | os.PathLike) -> list[MetricJob]:
    """Jobs from a CSV with columns method, content, output[, style] (image paths, relative
    to the CSV's folder); ids are the images' file stems. No database needed."""
    from stylestudy.db.assets import read_image

    path = Path(path)
    try:
        table = pd.read_csv(path, dtype=str)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise UserError(f"cannot read image table {path}: {exc}") from None
    missing = {"method", "content", "output"} - set(table.columns)
    if missing:
        raise UserError(f"{path} lacks column(s) {', '.join(sorted(missing))}")
    base = path.parent
    jobs = []
    for r in table.itertuples():
        style = getattr(r, "style", None) if "style" in table.columns else None
        style = style if isinstance(style, str) and style else None
        cid, sid = Path(r.content).stem, Path(style).stem if style else "none"
        jobs.append(MetricJob(
            key=f"{r.method}:{r.output}", method=r.method, item_id=f"{cid}+{sid}",
            content_id=cid, style_id=sid,
            load_output=partial(read_image, base / r.output),
            load_content=partial(read_image, base / r.content),
            load_style=partial(read_image, base / style) if style else None))
    return jobs


class GramStyle(torch.nn.Module):
    """Gatys style distance Σ_l w_l ‖G_l(x) − G_l(s)‖_F² / (4 N_l² M_l²), w_l = 1/5.

    Layers relu1_1 … relu5_1 of VGG19 through the shared encoder (``stylestudy.generator.encoder``:
    torchvision ImageNet weights ``vgg19`` or the Caffe ``vgg19-caffe-q8``, each with its
    own input convention).
    """

    def __init__(self, weights: str, encoder: torch.nn.Module, record: dict[str, Any]):
        super().__init__()
        self.weights, self.encoder, self.record = weights, encoder, record

    @classmethod
    def load(cls, device: str = "cpu") -> GramStyle | None:
        """The first VGG19 whose verified weights exist, or None."""
        from stylestudy.generator.encoder import load_encoder
        from stylestudy.generator.weights import WeightsMissing

        for name in ("vgg19", "vgg19-caffe-q8"):
            try:
                enc, record = load_encoder(name, GRAM_LAYERS, device=device)
            except WeightsMissing:
                continue
            return cls(name, enc, record)
        return None

    def _grams(self, x: torch.Tensor) -> list[tuple[torch.Tensor, int, int]]:
        from stylestudy.generator.encoder import gram

        return [(gram(f.flatten(2)), f.shape[1], f.shape[2] * f.shape[3])
                for f in self.encoder(x).values()]

    @torch.inference_mode()
    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        total = torch.zeros((), dtype=x.dtype, device=x.device)
        for (gx, c, m), (gs, _, ms) in zip(self._grams(x), self._grams(s), strict=True):
            # the style image may differ in size: compare size-normalised Gram matrices
            d = gx / m - gs / ms
            total = total + (d * d).sum(dim=(1, 2)) / (4 * c * c) / len(GRAM_LAYERS)
        return total


def _tensor(images: list[np.ndarray], device: str, dtype=torch.float64) -> torch.Tensor:
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).to(device=device, dtype=dtype)


def score(jobs: Iterable[MetricJob], out_csv: str | os.PathLike,
          nets: tuple[str, ...] = ("alex", "vgg"), device: str = "cpu", batch: int = 8,
          allow_random_weights: bool = False, gram: bool = True,
          progress: bool = True, backbones: dict[str, str] | None = None) -> pd.DataFrame:
    """Score every job not yet in ``out_csv`` and append the rows; return the whole table.

    ``backbones``: explicit LPIPS backbone files by net (first in the resolution order).
    """
    out_csv = Path(out_csv)
    resuming = out_csv.exists() and out_csv.stat().st_size > 0
    done = set(pd.read_csv(out_csv, usecols=["output_key"])["output_key"].astype(str)) \
        if resuming else set()
    todo = [j for j in jobs if j.key not in done]
    models = {}
    for net in nets:
        m = LPIPS(net, backbone_path=(backbones or {}).get(net),
                  allow_random_weights=allow_random_weights).to(device)
        models[f"lpips_{net}" if m.record.get("calibrated") else
               f"lpips_{net}_uncalibrated_random_backbone"] = m
    gram_model = GramStyle.load(device) if gram else None
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    state = {"header": not resuming}

    def flush(items: list[tuple[MetricJob, np.ndarray, np.ndarray, Any, bool]]) -> None:
        jobs_, outs, conts, styles, resized = zip(*items, strict=True)
        x64, c64 = _tensor(list(outs), device), _tensor(list(conts), device)
        cols = {"ssim_y": ssim(x64, c64, 255.0, "y").cpu().numpy(),
                "ssim_rgb": ssim(x64, c64, 255.0, "rgb").cpu().numpy()}
        x01, c01 = (x64 / 255).float(), (c64 / 255).float()
        with torch.inference_mode():
            for col, m in models.items():
                cols[col] = m(x01, c01, normalize=True).cpu().numpy()
            if gram_model is not None and all(st is not None for st in styles):
                s01 = (_tensor(list(styles), device) / 255).float()
                cols[f"gram_{gram_model.weights}"] = gram_model(x01, s01).cpu().numpy()
        table = pd.DataFrame({
            "output_key": [j.key for j in jobs_], "method": [j.method for j in jobs_],
            "generation_id": [j.generation_id for j in jobs_],
            "content_id": [j.content_id for j in jobs_], "style_id": [j.style_id for j in jobs_],
            "item_id": [j.item_id for j in jobs_], "height": [o.shape[0] for o in outs],
            "width": [o.shape[1] for o in outs], "content_resized": list(resized), **cols})
        if not state["header"]:
            have = list(pd.read_csv(out_csv, nrows=0).columns)
            if have != list(table.columns):
                raise UserError(f"{out_csv} has columns {have}; this run would write "
                                f"{list(table.columns)}: use another output file")
        table.to_csv(out_csv, mode="a", header=state["header"], index=False)
        state["header"] = False

    groups: dict[tuple[int, int], list] = {}
    it: Iterable[MetricJob] = todo
    if progress:
        from tqdm import tqdm

        it = tqdm(todo, desc="metrics", unit="image")
    for job in it:
        out = job.load_output()
        content = job.load_content()
        resized = content.shape[:2] != out.shape[:2]
        style = None
        if gram_model is not None and job.load_style is not None:
            style = resize(job.load_style(), out.shape[:2])
        key = out.shape[:2]
        groups.setdefault(key, []).append((job, out, resize(content, out.shape[:2]), style,
                                           resized))
        if len(groups[key]) >= batch:
            flush(groups.pop(key))
    for items in groups.values():
        flush(items)
    if not out_csv.exists():
        raise UserError("nothing to score")
    return pd.read_csv(out_csv)
