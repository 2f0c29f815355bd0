"""Image helpers shared by methods and the runner: sizes, resizing, dtype conversion."""

from __future__ import annotations

import numpy as np
from PIL import Image

#: resampling filter for every resize the runner and the simple methods do (antialiased)
RESAMPLE = Image.Resampling.LANCZOS


def output_shape(height: int, width: int, size: int | None) -> tuple[int, int]:
    """(H, W) with the long side ``size`` and the aspect ratio kept (rounded, ≥ 1)."""
    if size is None:
        return height, width
    scale = size / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def to_float(image: np.ndarray) -> np.ndarray:
    """uint8 H×W×3 → float32 in [0, 1]."""
    if image.dtype == np.uint8:
        return image.astype(np.float32) / 255.0
    return np.asarray(image, dtype=np.float32)


def resize(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resize an H×W×3 image (uint8 or float in [0, 1]) to ``shape`` with Lanczos."""
    if image.shape[:2] == tuple(shape):
        return image
    h, w = shape
    if image.dtype == np.uint8:
        return np.asarray(Image.fromarray(image).resize((w, h), RESAMPLE))
    chans = [np.asarray(Image.fromarray(np.ascontiguousarray(image[..., c], np.float32), "F")
                        .resize((w, h), RESAMPLE)) for c in range(image.shape[2])]
    return np.clip(np.stack(chans, axis=-1), 0.0, 1.0)


def cover_crop(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Scale to cover ``shape`` (aspect kept), then crop the centre to exactly ``shape``."""
    h, w = shape
    scale = max(h / image.shape[0], w / image.shape[1])
    sh, sw = max(h, round(image.shape[0] * scale)), max(w, round(image.shape[1] * scale))
    scaled = resize(image, (sh, sw))
    top, left = (sh - h) // 2, (sw - w) // 2
    return scaled[top:top + h, left:left + w]
