"""User guidance: colour-coded region masks and point-to-point correspondences.

As the official code's ``utils.extract_regions`` and ``utils.build_guidance``
(docs/methods-strotss.md, "The guidance editor").
"""

from __future__ import annotations

import numpy as np
import torch

from stylestudy.errors import UserError
from stylestudy.generator.strotss.pyramid import resize

__all__ = ["REGION_MIN_PIXELS", "MASK_THRESHOLD", "EMPTY_MASK_MAX", "POINT_DILATION",
           "extract_regions", "mask_at", "augment_points"]

#: a colour is a region when it covers more than 10000 style-guide pixels
REGION_MIN_PIXELS = 10000
#: resized masks are thresholded at 0.5; a resized mask with max < 0.1 means the whole image
MASK_THRESHOLD = 0.5
EMPTY_MASK_MAX = 0.1
#: each point is augmented by a 3×3 neighbourhood at a step of int(0.01 · max side)
POINT_DILATION = 0.01


def _as_uint8(img: np.ndarray) -> np.ndarray:
    img = np.asarray(img)
    if img.ndim == 2:
        img = np.stack([img] * 3, -1)
    img = img[..., :3]
    if img.dtype != np.uint8:
        img = np.clip(np.rint(img.astype(np.float64) * 255.0), 0, 255).astype(np.uint8)
    return img


def extract_regions(content_guide: np.ndarray, style_guide: np.ndarray
                    ) -> list[tuple[np.ndarray, np.ndarray]]:
    """(content mask, style mask) pairs, float32 {0, 1}, one per region colour.

    Regions are the colours covering more than ``REGION_MIN_PIXELS`` style-guide pixels,
    matched exactly on uint8 RGB; colours found only in the content guide are ignored.
    """
    cg, sg = _as_uint8(content_guide), _as_uint8(style_guide)
    colours, counts = np.unique(sg.reshape(-1, 3), axis=0, return_counts=True)
    colours = colours[counts > REGION_MIN_PIXELS]
    if len(colours) == 0:
        raise UserError(f"the style guide has no colour covering more than "
                        f"{REGION_MIN_PIXELS} pixels, so it defines no region")
    return [((cg == c).all(-1).astype(np.float32), (sg == c).all(-1).astype(np.float32))
            for c in colours]


def mask_at(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize (align_corners=False) and threshold at 0.5.

    A resized mask with max < 0.1 means the whole image (``st_helper``). A mask that is empty
    only after thresholding (max in [0.1, 0.5]) also means the whole image here; the
    official code would fail on it.
    """
    t = torch.from_numpy(np.ascontiguousarray(mask, dtype=np.float32))[None, None]
    r = resize(t, size)[0, 0].numpy()
    m = r > MASK_THRESHOLD
    if r.max() < EMPTY_MASK_MAX or not m.any():
        return np.ones(size, dtype=bool)
    return m


def augment_points(points: np.ndarray, content_shape: tuple[int, int],
                   style_shape: tuple[int, int]) -> np.ndarray:
    """Rows (content r, c, style r, c) in pixels → 9 rows per point, normalised to [0, 1].

    ``utils.build_guidance``: offsets (−1, 0, 1) × int(0.01 · max side) of each image,
    clipped to [0, H] and [0, W], divided by H and W. (The official function takes (x, y)
    pairs and swaps them; stylestudy takes (r, c) directly.)
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 4)
    (ha, wa), (hb, wb) = content_shape, style_shape
    da, db = int(POINT_DILATION * max(ha, wa)), int(POINT_DILATION * max(hb, wb))
    out = []
    for p in pts:
        for i in (-1, 0, 1):
            for j in (-1, 0, 1):
                out.append([np.clip(p[0] + i * da, 0, ha) / ha, np.clip(p[1] + j * da, 0, wa) / wa,
                            np.clip(p[2] + i * db, 0, hb) / hb, np.clip(p[3] + j * db, 0, wb) / wb])
    return np.asarray(out, dtype=np.float64).reshape(-1, 4)
