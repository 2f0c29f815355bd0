"""Outputs made outside stylestudy: accept an image only at (nearly) the expected size."""

from __future__ import annotations

import numpy as np

from stylestudy.generator.imageops import resize

#: a side may differ from the expected one by this fraction (at least MIN_SLACK_PX):
#: rounding to a multiple of 8 or 16 passes, a square output for a landscape input does not
SIZE_TOLERANCE = 0.03
MIN_SLACK_PX = 2


class WrongSize(ValueError):
    """An output whose sides are too far from the expected ones."""


def fits(actual: tuple[int, int], expected: tuple[int, int]) -> bool:
    return all(abs(a - e) <= max(MIN_SLACK_PX, SIZE_TOLERANCE * e)
               for a, e in zip(actual, expected, strict=True))


def fit_to_shape(image: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, list[int] | None]:
    """``image`` resized (Lanczos) to exactly ``shape`` (H, W) when it is within tolerance;
    also its original (H, W), or None when no resize was needed. Else ``WrongSize``."""
    actual = tuple(int(x) for x in image.shape[:2])
    if actual == tuple(shape):
        return image, None
    if not fits(actual, shape):
        raise WrongSize(f"is {actual[1]}×{actual[0]} px, expected {shape[1]}×{shape[0]} "
                        "(the content's aspect ratio at the set's size)")
    return resize(image, shape), list(actual)
