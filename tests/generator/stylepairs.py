"""Synthetic content/style pairs and a Gram-statistics distance for the baseline-method tests."""

from __future__ import annotations

import contextlib

import numpy as np
import torch


def pair(size: int = 128, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A smooth colour-ramp content (3:4) and a striped red/blue style (square), in [0, 1]."""
    rng = np.random.default_rng(seed)
    h, w = size * 3 // 4, size
    yy, xx = np.mgrid[0:h, 0:w]
    content = np.stack([xx / w, yy / h, np.full_like(xx, 0.5, dtype=float)], -1)
    style = np.zeros((size, size, 3))
    style[0::8] = (0.9, 0.1, 0.1)
    style[4::8] = (0.1, 0.1, 0.9)
    style = np.clip(style + 0.05 * rng.random(style.shape), 0, 1)
    return content.astype(np.float32), style.astype(np.float32)


def gram_distance(a: np.ndarray, b: np.ndarray, encoder) -> float:
    """Σ_l ‖G_l(a)/M_l − G_l(b)/M_l'‖² over the encoder's taps (size-normalised Gram)."""
    def grams(img):
        x = torch.from_numpy(np.ascontiguousarray(img, np.float32)).permute(2, 0, 1)[None]
        with torch.no_grad():
            return [(f.flatten(2) @ f.flatten(2).transpose(1, 2)) / f[0, 0].numel()
                    for f in encoder(x).values()]

    return float(sum(((ga - gb) ** 2).sum() for ga, gb in zip(grams(a), grams(b),
                                                                 strict=True)))


@contextlib.contextmanager
def one_thread():
    """Run torch on one thread (on a shared 2-core machine, idle intra-op threads spin and
    count as CPU time without doing work)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)
