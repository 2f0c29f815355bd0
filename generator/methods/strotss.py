"""STROTSS (Kolkin et al., CVPR 2019) as a stylestudy method; the algorithm is in
``stylestudy.generator.strotss`` and documented in ``docs/methods-strotss.md``."""

from __future__ import annotations

from typing import Any

import numpy as np

from stylestudy.errors import UserError
from stylestudy.generator.method import Method, Param, Request, register
from stylestudy.generator.strotss.losses import TERMS

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
    #: pairs per GPU batch (halved automatically while it does not fit in memory)
    max_batch = 8
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
        "terms": Param(list, list(TERMS), "loss terms switched on (ablations): some of "
                       "content, remd, moment, palette"),
    }

    @classmethod
    def validate_params(cls, given: dict[str, Any] | None) -> dict[str, Any]:
        """Also checks ``terms`` and puts it in canonical order; with every term on it is
        left out, so conditions made before the ablation switches keep their hash."""
        full = super().validate_params(given)
        terms = _terms(full["terms"])
        if terms == ("content",) and full["content_weight"] == 0:
            raise UserError("strotss 'terms' [content] with content_weight 0 leaves nothing "
                            "to optimise")
        if terms == TERMS:
            del full["terms"]
        else:
            full["terms"] = list(terms)
        return full

    @classmethod
    def batch_limit(cls, device: str) -> int:
        """Batches on a GPU only (see :meth:`run_batch`)."""
        return cls.max_batch if device.startswith("cuda") else 1

    def setup(self) -> None:
        import torch

        from stylestudy.generator.strotss import Hypercolumn
        from stylestudy.generator.vgg import vgg_features

        feats, record = vgg_features("vgg16", allow_random=self.ctx.allow_random_weights,
                                     weights_dir=self.ctx.weights_dir,
                                     device=torch.device(self.ctx.device))
        self.ctx.weights_used["vgg16"] = record
        self.features = Hypercolumn(feats).to(self.ctx.device)
        self._last: list[dict[str, Any]] = []

    def run(self, request: Request) -> np.ndarray:
        return self.run_batch([request])[0]

    def run_batch(self, requests: list[Request]) -> list[np.ndarray]:
        """On a GPU, requests whose contents share a shape run as one batch; on the CPU one
        after another (batching gains nothing there, and a lone run's bytes then never
        depend on which requests it was grouped with)."""
        prepared = [self._prepare(r) for r in requests]
        groups: dict[tuple, list[int]] = {}
        for i, (task, cfg, _) in enumerate(prepared):
            key = (task.content.shape, cfg) if self.batch_limit(self.ctx.device) > 1 else (i,)
            groups.setdefault(key, []).append(i)
        outs: list[np.ndarray] = [np.empty(0)] * len(requests)
        self._last = [{} for _ in requests]
        for idx in groups.values():
            results = self._stylize([prepared[i][0] for i in idx], prepared[idx[0]][1])
            for i, (out, info) in zip(idx, results, strict=True):
                outs[i] = out
                self._last[i] = {**prepared[i][2], "scales": info.scales,
                                 "batched_with": len(results)}
        return outs

    def _prepare(self, request: Request) -> tuple[Any, Any, dict[str, Any]]:
        """(task, config, provenance labels) for one request; bad parameters raise."""
        from stylestudy.generator.strotss import Config, Task
        from stylestudy.generator.strotss.guidance import extract_regions
        from stylestudy.generator.strotss.optimise import ITERATIONS

        p = request.params
        terms = _terms(p.get("terms", list(TERMS)))
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
                     region_pairing=p["region_pairing"], terms=terms)
        if p["preset"] == "quick":
            setting = (f"quick preset: {iterations} iterations per scale, long side {size} "
                       "(not the paper setting)")
        elif iterations == ITERATIONS:
            setting = f"paper: {ITERATIONS} iterations per scale"
        else:
            setting = f"reduced: {iterations} iterations per scale (not the paper setting)"
        labels = {"variant": p["variant"], "setting": setting, "sampling": p["sampling"],
                  "regions": len(regions) if regions else 0,
                  "points": 0 if points is None else len(points),
                  "terms": list(terms)}
        task = Task(request.content, request.style, seed=request.seed, regions=regions,
                    points=points)
        return task, cfg, labels

    def _stylize(self, tasks: list[Any], cfg: Any) -> list[tuple[np.ndarray, Any]]:
        """``stylize_batch`` with a progress bar; a batch that does not fit in GPU memory is
        split in half and retried."""
        import torch
        from tqdm import tqdm

        from stylestudy.generator.strotss import schedule, stylize_batch

        total = cfg.iterations * len(schedule(cfg.size, cfg.content_weight))
        try:
            with tqdm(total=total, desc=f"strotss ×{len(tasks)}", unit="it", leave=False,
                      disable=None) as bar:
                return stylize_batch(tasks, self.features, cfg,
                                     progress=lambda i, n: bar.update(1))
        except torch.cuda.OutOfMemoryError:
            if len(tasks) == 1:
                raise
            torch.cuda.empty_cache()
            half = len(tasks) // 2
            return self._stylize(tasks[:half], cfg) + self._stylize(tasks[half:], cfg)

    def provenance(self, index: int = 0) -> dict[str, Any]:
        return {"strotss": self._last[index]}


def _terms(value: list) -> tuple[str, ...]:
    """The switched-on terms in :data:`TERMS` order; unknown names or none at all raise."""
    bad = next((t for t in value if t not in TERMS), None) if isinstance(value, list) else value
    if bad is not None:
        raise UserError(f"strotss 'terms' takes names among {', '.join(TERMS)}; got {bad!r}")
    if not value:
        raise UserError("strotss 'terms' is empty: every loss term would be off (keep at "
                        f"least one of {', '.join(TERMS)})")
    return tuple(t for t in TERMS if t in value)


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
