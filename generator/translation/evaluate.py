"""SSIM of translations against MNIST-Single/Multiple ground truth (spec ``egsc-it.md`` §3.1).

Protocol: pair i = (test A[i], test B[i]) for the first ``n`` test pairs; x_ab = A_i
translated with exemplar B_i, x_ba = B_i with exemplar A_i; skimage
``structural_similarity(x, gt, channel_axis=-1, data_range=255)`` (7×7 uniform window,
sample covariance: ``analysis.md`` §9 ``skimage_default``) on uint8 images at the data
set's resolution; mean ± std per direction. The "vs exemplar" diagnostic is the released
script's comparison (x_ab vs input B, x_ba vs input A; ``eval/embed_mnist.py`` @7a5be09).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from generator.datasets import DigitSet
from generator.translation import reference

__all__ = ["Score", "ssim_scores", "evaluate_generator", "PAPER_ROWS", "write_csv",
           "markdown_table", "SSIM_VARIANT",
           "paper_label", "paper_order", "REFERENCES", "reference_generator",
           "model_generator"]

SSIM_VARIANT = "skimage structural_similarity, channel_axis=-1, data_range=255, 7x7 uniform"
#: rows of the paper's MNIST SSIM table, in order (spec §3.3): (label, method, ablation)
PAPER_ROWS = (("CycleGAN", "cyclegan", "none"), ("UNIT", "unit", "none"),
              ("MUNIT", "munit", "none"),
              ("EGSC-IT w/o feature mask", "egsc-it", "no-mask"),
              ("EGSC-IT w/o AdaIN", "egsc-it", "no-adain"),
              ("EGSC-IT w/o perceptual loss", "egsc-it", "no-perceptual"),
              ("EGSC-IT", "egsc-it", "none"))

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

    def row(self) -> dict[str, Any]:
        d = asdict(self)
        details = d.pop("details")
        return {**d, **{k: v for k, v in details.items() if not isinstance(v, dict)},
                "ssim_variant": SSIM_VARIANT}


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
                 resolution=ds.size, data=ds.name, details=details or {})


def reference_generator(fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Generator:
    def generate(sources: np.ndarray, exemplars: np.ndarray, src: str) -> np.ndarray:
        return np.stack([fn(s, e) for s, e in zip(sources, exemplars, strict=True)])
    return generate


REFERENCES = {"identity": reference.identity, "copy-exemplar": reference.copy_exemplar,
              "colour-oracle": reference.colour_oracle}


def model_generator(model, seed: int, device: str) -> Generator:
    def generate(sources: np.ndarray, exemplars: np.ndarray, src: str) -> np.ndarray:
        return reference.translate_images(model, sources, exemplars, src, seed, device)
    return generate


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
    lines = ["| method | profile | A→B SSIM | B→A SSIM | vs exemplar A→B / B→A |",
             "|---|---|---|---|---|"]
    for s in scores:
        prof = s.details.get("profile", "reference")
        lines.append(f"| {s.name} | {prof} | {s.ab_mean:.3f} ± {s.ab_std:.3f} | "
                     f"{s.ba_mean:.3f} ± {s.ba_std:.3f} | "
                     f"{s.ab_vs_exemplar:.3f} / {s.ba_vs_exemplar:.3f} |")
    return "\n".join(lines) + "\n"


def paper_label(method: str, ablation: str) -> str:
    """The row label of the paper's table for a trained model."""
    for label, m, a in PAPER_ROWS:
        if (m, a) == (method, ablation):
            return label
    return f"{method} ({ablation})"


def paper_order(method: str, ablation: str) -> int:
    return next((i for i, (_, m, a) in enumerate(PAPER_ROWS) if (m, a) == (method, ablation)),
                len(PAPER_ROWS))
