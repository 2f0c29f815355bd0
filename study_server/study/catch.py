"""Whether a catch pair can be answered: its options differ visibly, and option A is the
better answer to the question on the question's own terms.

A catch cell shows one method's output for an item (A) against the same method's output
with the other factor changed (B): another content image for the content question,
another style image for the style question. A method that ignores that factor gives two
images that are alike (``content-copy`` in the style question gives the same picture
twice), so such a pair is no test of attention. Three measures on the stored images,
with B at A's size as participants see it:

- ``delta_e``: the mean CIE 1976 colour difference ΔE*ab between A and B, pixel by pixel
  (sRGB, D65). One ΔE*ab is about 0.4 of a just-noticeable difference (JND ≈ 2.3, Sharma,
  *Digital Color Imaging Handbook*, 2003); ``MIN_DELTA_E`` asks for about four on average.
- content question, ``structure_gain``: how much better A's lightness pattern follows the
  content reference than B's: r(A, ref) − r(B, ref), r the Pearson correlation of L* with
  every image box-averaged to at most ``STRUCTURE_SIZE`` pixels on its long side (coarse
  shape survives stylisation; the reference at A's size).
- style question, ``colour_gain``: how much closer A's colours are to the style reference
  than B's: d(B) − d(A), d(X) = ‖μ(X) − μ(ref)‖ + ‖σ(X) − σ(ref)‖ over the CIELAB channels'
  means μ and standard deviations σ (the statistics Reinhard et al. 2001 transfer), in ΔE
  units.

A pair is answerable when all of its measures reach their thresholds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

__all__ = ["MIN_COLOUR_GAIN", "MIN_DELTA_E", "MIN_STRUCTURE_GAIN", "CatchCheck", "check_catch",
           "mean_delta_e", "srgb_to_lab"]

#: least mean ΔE*ab between the options (about 4 JND)
MIN_DELTA_E = 10.0
#: least gain in lightness correlation with the content reference (content question)
MIN_STRUCTURE_GAIN = 0.2
#: least gain in CIELAB colour statistics towards the style reference (style question)
MIN_COLOUR_GAIN = 5.0
#: long side, in pixels, at which lightness patterns are compared
STRUCTURE_SIZE = 64

#: linear sRGB to XYZ (IEC 61966-2-1, D65), rows X, Y, Z
_SRGB_TO_XYZ = np.array([[0.4124564, 0.3575761, 0.1804375],
                         [0.2126729, 0.7151522, 0.0721750],
                         [0.0193339, 0.1191920, 0.9503041]])
_D65 = np.array([0.95047, 1.0, 1.08883])


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB (D65) of 8-bit sRGB pixels, shape (..., 3)."""
    c = np.asarray(rgb, dtype=np.float64)[..., :3] / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = linear @ _SRGB_TO_XYZ.T / _D65
    eps, kappa = 216 / 24389, 24389 / 27  # CIE's exact constants
    f = np.where(xyz > eps, np.cbrt(xyz), (kappa * xyz + 16) / 116)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]),
                     200 * (f[..., 1] - f[..., 2])], axis=-1)


def mean_delta_e(a: np.ndarray, b: np.ndarray) -> float:
    """Mean CIE76 ΔE*ab between two 8-bit sRGB images of one size."""
    if a.shape[:2] != b.shape[:2]:
        raise ValueError(f"images differ in size: {a.shape[:2]} and {b.shape[:2]}")
    return float(np.sqrt(((srgb_to_lab(a) - srgb_to_lab(b)) ** 2).sum(axis=-1)).mean())


def _resized(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``rgb`` at ``size`` (width, height), box-averaged or Lanczos as the pixels go."""
    if (rgb.shape[1], rgb.shape[0]) == size:
        return rgb
    im = Image.fromarray(np.ascontiguousarray(rgb[..., :3], dtype=np.uint8))
    shrink = size[0] < rgb.shape[1]
    return np.asarray(im.resize(size, Image.Resampling.BOX if shrink
                                else Image.Resampling.LANCZOS))


def _lightness(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return srgb_to_lab(_resized(rgb, size))[..., 0].ravel()


def _correlation(x: np.ndarray, y: np.ndarray) -> float:
    x, y = x - x.mean(), y - y.mean()
    norm = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / norm) if norm > 0 else 0.0


def _colour_distance(x: np.ndarray, ref: np.ndarray) -> float:
    lx, lr = srgb_to_lab(x).reshape(-1, 3), srgb_to_lab(ref).reshape(-1, 3)
    return float(np.linalg.norm(lx.mean(0) - lr.mean(0)) + np.linalg.norm(lx.std(0) - lr.std(0)))


@dataclass(frozen=True)
class CatchCheck:
    """The measures of one catch pair and whether it can be answered."""

    delta_e: float
    gain: float  # structure_gain (content question) or colour_gain (style question)
    ok: bool


def check_catch(question: str, a: np.ndarray, b: np.ndarray, reference: np.ndarray
                ) -> CatchCheck:
    """Measure a catch pair: options ``a`` (expected) and ``b`` of one size, 8-bit RGB."""
    delta_e = mean_delta_e(a, b)
    if question == "content":
        h, w = a.shape[:2]
        scale = min(1.0, STRUCTURE_SIZE / max(h, w))
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        ref = _lightness(_resized(reference, (w, h)), size)
        gain = _correlation(_lightness(a, size), ref) - _correlation(_lightness(b, size), ref)
        least = MIN_STRUCTURE_GAIN
    else:
        gain = _colour_distance(b, reference) - _colour_distance(a, reference)
        least = MIN_COLOUR_GAIN
    return CatchCheck(delta_e, gain, delta_e >= MIN_DELTA_E and gain >= least)
