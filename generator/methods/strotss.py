"""STROTSS (Kolkin et al., CVPR 2019) as a stylestudy method; the algorithm is in
``generator.strotss`` and documented in ``docs/methods-strotss.md``."""

from __future__ import annotations

from typing import Any

import numpy as np

from generator.method import Method, Param, Request, register
from stylestudy.errors import UserError

#: the quick preset (for demos; not the paper setting): 30 iterations per scale, long side
#: at most 256 px
QUICK_ITERATIONS = 30
QUICK_MAX_SIZE = 256
#: output long side when the request gives none: the README's MAX_SCL = 5
DEFAULT_SIZE = 512


@register
class Strotss(Method):
    """Style transfer by relaxed optimal transport and self-similarity."""

    name = "strotss"
    version = "1"
    kind = "optimisation"
    summary = "STROTSS (Kolkin et al. 2019), official-code semantics, VGG16 hypercolumns"
    weights = ("vgg16",)
    prefers_gpu = True
    params = {
        "content_weight": Param(float, 1.0, "WEIGHT of the official CLI; α₁ = 16 × WEIGHT, "
                                "halved per scale (README: 1.0 default, 0.5 favourite)",
                                min=0.0),
        "variant": Param(str, "official", "official: the code's loss; paper: the published "
                         "normaliser 2 + α + 1/α and 1/n² content term",
                         choices=("official", "paper")),
        "iterations": Param(int, 250, "RMSprop steps per scale (official MAX_ITER 250)",
                            min=1),
        "sampling": Param(str, "random", "random (official) or strided (use_random=False)",
                          choices=("random", "strided")),
        "region_pairing": Param(str, "in-region", "in-region: sampled pairs never leave a "
                                "region; official: the code's independent row/column shuffles",
                                choices=("in-region", "official")),
        "points": Param(list, [], "point guidance: rows [content r, content c, style r, "
                        "style c] in input pixels"),
        "preset": Param(str, "paper", "paper (250 iterations per scale) or quick (30, long "
                        "side ≤ 256; a demo setting, labelled in provenance)",
                        choices=("paper", "quick")),
    }

    def setup(self) -> None:
        import torch

        from generator.strotss import Hypercolumn
        from generator.vgg import vgg_features

        feats, record = vgg_features("vgg16", allow_random=self.ctx.allow_random_weights,
                                     weights_dir=self.ctx.weights_dir,
                                     device=torch.device(self.ctx.device))
        self.ctx.weights_used["vgg16"] = record
        self.features = Hypercolumn(feats).to(self.ctx.device)
        self._last: dict[str, Any] = {}

    def run(self, request: Request) -> np.ndarray:
        from tqdm import tqdm

        from generator.strotss import Config, schedule, stylize
        from generator.strotss.guidance import extract_regions
        from generator.strotss.optimise import ITERATIONS

        p = request.params
        if p["variant"] == "paper" and p["content_weight"] <= 0:
            raise UserError("strotss variant 'paper' needs content_weight > 0 (it divides by α)")
        points = _points(p["points"])
        regions = None
        g = request.guides
        if g.get("content_regions") is not None or g.get("style_regions") is not None:
            if g.get("content_regions") is None or g.get("style_regions") is None:
                raise UserError("strotss region guidance needs both a content and a style guide")
            regions = extract_regions(g["content_regions"], g["style_regions"])
        size, iterations = request.size or DEFAULT_SIZE, p["iterations"]
        if p["preset"] == "quick":
            if iterations != self.params["iterations"].default:
                raise UserError("strotss: give either preset 'quick' or 'iterations', not both")
            size, iterations = min(size, QUICK_MAX_SIZE), QUICK_ITERATIONS
        cfg = Config(size=size, content_weight=p["content_weight"], iterations=iterations,
                     variant=p["variant"], sampling=p["sampling"],
                     region_pairing=p["region_pairing"])
        total = iterations * len(schedule(size, p["content_weight"]))
        with tqdm(total=total, desc="strotss", unit="it", leave=False, disable=None) as bar:
            out, info = stylize(request.content, request.style, self.features, cfg,
                                seed=request.seed, regions=regions, points=points,
                                progress=lambda i, n: bar.update(1))
        if p["preset"] == "quick":
            setting = (f"quick preset: {iterations} iterations per scale, long side {size} "
                       "(not the paper setting)")
        elif iterations == ITERATIONS:
            setting = f"paper: {ITERATIONS} iterations per scale"
        else:
            setting = f"reduced: {iterations} iterations per scale (not the paper setting)"
        self._last = {"variant": p["variant"], "setting": setting, "sampling": p["sampling"],
                      "regions": len(regions) if regions else 0,
                      "points": 0 if points is None else len(points),
                      "scales": info.scales}
        return out

    def provenance(self) -> dict[str, Any]:
        return {"strotss": self._last}


def _points(value: list) -> np.ndarray | None:
    if not value:
        return None
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        arr = None
    if arr is None or arr.ndim != 2 or arr.shape[1] != 4 or not np.isfinite(arr).all() \
            or (arr < 0).any():
        raise UserError("strotss 'points' must be rows [content r, content c, style r, style c] "
                        "of non-negative pixel coordinates")
    return arr
