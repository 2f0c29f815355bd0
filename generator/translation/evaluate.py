"""SSIM of translations against MNIST-Single/Multiple ground truth (docs/results-digits.md).

Protocol: pair i = (test A[i], test B[i]) for the first ``n`` test pairs; x_ab = A_i
translated with exemplar B_i, x_ba = B_i with exemplar A_i; skimage
``structural_similarity(x, gt, channel_axis=-1, data_range=255)`` (7×7 uniform window,
sample covariance: skimage's defaults, not the report's wang04 SSIM) on uint8 images at the data
set's resolution; mean ± std per direction. The "vs exemplar" diagnostic is the released
script's comparison (x_ab vs input B, x_ba vs input A; ``eval/embed_mnist.py`` @7a5be09).

Diversity (EGSC-IT's multimodality claim): each of the first ``sources`` test inputs is
translated with ``exemplars`` exemplars of the other domain (test images i, i+1, …, cyclically)
and scored by :func:`stylestudy.analysis.diversity.mean_pairwise` (LPIPS v0.1 alex); mean ± std
over the inputs, per direction.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from stylestudy.generator.datasets import DigitSet
from stylestudy.generator.translation import reference

__all__ = ["Score", "ssim_scores", "evaluate_generator", "PAPER_ROWS", "write_csv",
           "markdown_table", "SSIM_VARIANT", "DIVERSITY_VARIANT", "diversity_scores",
           "ORDERED_BELOW", "TRIVIAL", "paired_orderings", "orderings_markdown",
           "paper_label", "paper_order", "REFERENCES", "reference_generator", "sample_grid",
           "model_generator"]

SSIM_VARIANT = "skimage structural_similarity, channel_axis=-1, data_range=255, 7x7 uniform"
DIVERSITY_VARIANT = ("mean pairwise LPIPS v0.1 alex over one input's translations with "
                     "different exemplars, images upscaled to 64 px (Lanczos)")
#: rows of the paper's MNIST SSIM table, in order: (label, method, ablation,
#: variant). The paper's UNIT row is EGSC-IT's own UNIT network (its run names); UNIT as
#: published (NIPS 2017) follows it, marked as not a row of the paper.
PAPER_ROWS = (("CycleGAN", "cyclegan", "none", None),
              ("UNIT", "unit", "none", "egsc-it"),
              ("UNIT (NIPS 2017 network; not in the paper)", "unit", "none", "nips2017"),
              ("MUNIT", "munit", "none", None),
              ("EGSC-IT w/o feature mask", "egsc-it", "no-mask", None),
              ("EGSC-IT w/o AdaIN", "egsc-it", "no-adain", None),
              ("EGSC-IT w/o perceptual loss", "egsc-it", "no-perceptual", None),
              ("EGSC-IT", "egsc-it", "none", None))

Generator = Callable[[np.ndarray, np.ndarray, str], np.ndarray]


@dataclass
class Score:
    """One generator on one data set: SSIM to ground truth and to the exemplar."""

    name: str
    n: int
    ab_mean: float
    ab_std: float
    ba_mean: float
    ba_std: float
    ab_vs_exemplar: float
    ba_vs_exemplar: float
    resolution: int
    data: str
    details: dict[str, Any]
    #: mean pairwise LPIPS across exemplars (:func:`diversity_scores`), when measured
    diversity: dict[str, float] | None = None
    #: per-pair SSIM to ground truth, "ab" and "ba" (for paired comparisons)
    per_pair: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def row(self) -> dict[str, Any]:
        d = asdict(self)
        details, div = d.pop("details"), d.pop("diversity")
        d.pop("per_pair")
        extra = {"diversity_variant": DIVERSITY_VARIANT, **div} if div else {}
        return {**d, **{k: v for k, v in details.items() if not isinstance(v, dict)},
                "ssim_variant": SSIM_VARIANT, **extra}


def ssim_scores(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-image SSIM of two uint8 (N, H, W, 3) stacks."""
    from skimage.metrics import structural_similarity

    return np.array([structural_similarity(a, b, channel_axis=-1, data_range=255)
                     for a, b in zip(x, y, strict=True)])


def evaluate_generator(name: str, generate: Generator, ds: DigitSet, n: int = 1000,
                       details: dict[str, Any] | None = None) -> Score:
    """Score ``generate(sources, exemplars, src) -> outputs`` on the first ``n`` test pairs."""
    t = {k: v[:n] for k, v in ds.arrays["test"].items()}
    x_ab, x_ba = generate(t["A"], t["B"], "a"), generate(t["B"], t["A"], "b")
    ab, ba = ssim_scores(x_ab, t["A2B"]), ssim_scores(x_ba, t["B2A"])
    return Score(name=name, n=len(ab), ab_mean=float(ab.mean()), ab_std=float(ab.std()),
                 ba_mean=float(ba.mean()), ba_std=float(ba.std()),
                 ab_vs_exemplar=float(ssim_scores(x_ab, t["B"]).mean()),
                 ba_vs_exemplar=float(ssim_scores(x_ba, t["A"]).mean()),
                 resolution=ds.size, data=ds.name, details=details or {},
                 per_pair={"ab": ab, "ba": ba})


#: the paper's claim: EGSC-IT above each of these rows
ORDERED_BELOW = ("CycleGAN", "UNIT", "MUNIT", "EGSC-IT w/o feature mask", "EGSC-IT w/o AdaIN",
                 "EGSC-IT w/o perceptual loss")


#: the references every trained model should beat: a model below ``exemplar-background`` (a
#: flat image of the exemplar's background colour) has not learned to draw the digit
TRIVIAL = ("identity", "copy-exemplar", "exemplar-background")


def paired_orderings(scores: list[Score], top: str = "EGSC-IT",
                    below: tuple[str, ...] = ORDERED_BELOW) -> list[dict[str, Any]]:
    """For each row ranked below ``top`` (those present; by default the paper's orderings),
    per direction: the mean per-pair SSIM difference ``top`` − row over the same test pairs
    with a 95 % t interval, and the verdict: 'holds' (interval above 0), 'reversed' (below 0)
    or 'not separated'."""
    from scipy import stats

    by_name = {s.name: s for s in scores}
    if top not in by_name:
        return []
    out = []
    for name in below:
        if name not in by_name:
            continue
        for d in ("ab", "ba"):
            diff = by_name[top].per_pair[d] - by_name[name].per_pair[d]
            mean = float(diff.mean())
            half = float(stats.t.ppf(0.975, len(diff) - 1) * diff.std(ddof=1)
                         / np.sqrt(len(diff))) if len(diff) > 1 else float("inf")
            verdict = ("holds" if mean - half > 0 else "reversed" if mean + half < 0
                       else "not separated")
            out.append({"ordering": f"{top} > {name}", "direction": "A→B" if d == "ab" else "B→A",
                        "difference": mean, "ci_low": mean - half, "ci_high": mean + half,
                        "verdict": verdict, "n": len(diff)})
    return out


def orderings_markdown(rows: list[dict[str, Any]], header: str = "paper's ordering") -> str:
    """The orderings as a markdown table, the first column titled ``header``."""
    lines = [f"| {header} | direction | SSIM difference [95 % CI] | verdict |",
             "|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['ordering']} | {r['direction']} | {r['difference']:+.3f} "
                     f"[{r['ci_low']:+.3f}, {r['ci_high']:+.3f}] | {r['verdict']} |")
    return "\n".join(lines) + "\n"


def diversity_scores(generate: Generator, ds: DigitSet,
                     pairwise: Callable[[list[np.ndarray]], float], sources: int = 100,
                     exemplars: int = 5) -> dict[str, float]:
    """Per direction, the mean ± std over the first ``sources`` test inputs of ``pairwise``
    (the mean pairwise LPIPS, ``stylestudy.analysis.diversity.mean_pairwise``) of the input's
    translations with ``exemplars`` exemplars."""
    if exemplars < 2:
        raise ValueError("diversity needs at least two exemplars")
    t = ds.arrays["test"]
    n_test = len(t["A"])
    sources = min(sources, n_test)
    out: dict[str, float] = {"diversity_sources": sources, "diversity_exemplars": exemplars}
    for direction, src, ex in (("ab", "A", "B"), ("ba", "B", "A")):
        idx = np.arange(sources).repeat(exemplars)
        ex_idx = (idx + np.tile(np.arange(exemplars), sources)) % n_test
        images = generate(t[src][idx], t[ex][ex_idx], direction[0])
        per = [pairwise(list(images[i * exemplars:(i + 1) * exemplars]))
               for i in range(sources)]
        out[f"{direction}_diversity"] = float(np.mean(per))
        out[f"{direction}_diversity_std"] = float(np.std(per))
    return out


def reference_generator(fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Generator:
    def generate(sources: np.ndarray, exemplars: np.ndarray, src: str) -> np.ndarray:
        return np.stack([fn(s, e) for s, e in zip(sources, exemplars, strict=True)])
    return generate


REFERENCES = {"identity": reference.identity, "copy-exemplar": reference.copy_exemplar,
              "exemplar-background": reference.exemplar_background,
              "colour-oracle": reference.colour_oracle}


def model_generator(model, seed: int, device: str) -> Generator:
    def generate(sources: np.ndarray, exemplars: np.ndarray, src: str) -> np.ndarray:
        return reference.translate_images(model, sources, exemplars, src, seed, device)
    return generate


def sample_grid(rows: list[tuple[str, np.ndarray]], path: str | os.PathLike,
                scale: int = 2) -> None:
    """A PNG of labelled rows of uint8 images (one row per generator, same pairs in each
    column), each image enlarged ``scale`` times without smoothing."""
    from PIL import Image, ImageDraw

    size = rows[0][1].shape[1] * scale
    label_w = 8 + 6 * max(len(label) for label, _ in rows)
    cols = max(len(images) for _, images in rows)
    sheet = Image.new("RGB", (label_w + cols * (size + 2), len(rows) * (size + 2)), "white")
    draw = ImageDraw.Draw(sheet)
    for r, (label, images) in enumerate(rows):
        y = r * (size + 2)
        draw.text((4, y + size // 2 - 5), label, fill="black")
        for c, img in enumerate(images):
            tile = Image.fromarray(img).resize((size, size), Image.NEAREST)
            sheet.paste(tile, (label_w + c * (size + 2), y))
    sheet.save(path)


def write_csv(scores: list[Score], path: str | os.PathLike) -> None:
    rows = [s.row() for s in scores]
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)


def markdown_table(scores: list[Score]) -> str:
    """The paper's layout: one row per method (baselines, ablations, EGSC-IT), then the
    reference generators; columns A→B and B→A as mean ± std, plus the diagnostic."""
    lines = ["| method | profile | A→B SSIM | B→A SSIM | vs exemplar A→B / B→A | "
             "diversity A→B / B→A |", "|---|---|---|---|---|---|"]
    for s in scores:
        prof = s.details.get("profile", "reference")
        div = (f"{s.diversity['ab_diversity']:.3f} / {s.diversity['ba_diversity']:.3f}"
               if s.diversity else "–")
        lines.append(f"| {s.name} | {prof} | {s.ab_mean:.3f} ± {s.ab_std:.3f} | "
                     f"{s.ba_mean:.3f} ± {s.ba_std:.3f} | "
                     f"{s.ab_vs_exemplar:.3f} / {s.ba_vs_exemplar:.3f} | {div} |")
    return "\n".join(lines) + "\n"


def _row(method: str, ablation: str, variant: str | None) -> int:
    if method == "unit" and variant is None:
        variant = "nips2017"  # checkpoints from before UNIT had variants
    return next((i for i, (_, m, a, v) in enumerate(PAPER_ROWS)
                 if (m, a, v) == (method, ablation, variant)), len(PAPER_ROWS))


def paper_label(method: str, ablation: str, variant: str | None = None) -> str:
    """The row label of the paper's table for a trained model."""
    i = _row(method, ablation, variant)
    return PAPER_ROWS[i][0] if i < len(PAPER_ROWS) else f"{method} ({ablation})"


def paper_order(method: str, ablation: str, variant: str | None = None) -> int:
    return _row(method, ablation, variant)
