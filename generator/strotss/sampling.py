"""Where STROTSS reads features: the output/content grid and the style samples.

As the official ``stylize_objectives.init_inds``, ``get_feature_inds``,
``vgg_pt.forward_cat`` and ``utils.load_style_folder`` (docs/methods-strotss.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["GRID_CONST", "OUTPUT_SAMPLES", "STYLE_SUBSAMPLES", "STYLE_DRAWS", "OutputSampler",
           "style_positions"]

#: grid constant 128² (``init_inds``: ``const = 128**2``)
GRID_CONST = 128 ** 2
#: output/content samples per iteration, cnt = 32² (``get_feature_inds``)
OUTPUT_SAMPLES = 32 ** 2
#: style samples: ``subsamps = 1000`` per draw, ``inner = 5`` draws (``st_helper``)
STYLE_SUBSAMPLES = 1000
STYLE_DRAWS = 5


def _col_major(rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.meshgrid(rows, cols)`` flattened: for each column, every row."""
    rr, cc = np.meshgrid(rows, cols)
    return rr.ravel(), cc.ravel()


@dataclass
class OutputSampler:
    """The output/content positions of one region at one scale.

    ``mode``: ``"random"`` (official default: random grid offsets, a fresh shuffle every
    iteration, the first 1024 taken) or ``"strided"`` (official ``use_random=False``: offsets
    stride // 2, every (N // 1024)-th grid point). ``pairing``: ``"independent"`` shuffles
    the row list and the column list separately (official; exact when the region is the
    whole image), ``"joint"`` permutes in-region points as pairs, so no pair leaves the region.
    """

    rows: np.ndarray
    cols: np.ndarray
    mode: str
    pairing: str

    @classmethod
    def grid(cls, mask: np.ndarray, rng: np.random.Generator, mode: str = "random",
             pairing: str = "independent") -> OutputSampler:
        h, w = mask.shape
        q = (h * w) // GRID_CONST
        s_r = int(max(math.floor(math.sqrt(q)), 1))
        s_c = int(max(math.ceil(math.sqrt(q)), 1))
        if mode == "random":
            o_r, o_c = int(rng.integers(s_r)), int(rng.integers(s_c))
        else:
            o_r, o_c = s_r // 2, s_c // 2
        rows, cols = _col_major(np.arange(h)[o_r::s_r], np.arange(w)[o_c::s_c])
        keep = mask[rows, cols]
        return cls(rows[keep].copy(), cols[keep].copy(), mode, pairing)

    def draw(self, rng: np.random.Generator, cnt: int = OUTPUT_SAMPLES
             ) -> tuple[np.ndarray, np.ndarray]:
        """Positions for one iteration (``shuffle_feature_inds`` + ``get_feature_inds``)."""
        if self.mode == "strided":
            step = max(len(self.rows) // cnt, 1)
            return self.rows[::step], self.cols[::step]
        if self.pairing == "joint":
            perm = rng.permutation(len(self.rows))
            self.rows, self.cols = self.rows[perm], self.cols[perm]
        else:
            rng.shuffle(self.rows)
            rng.shuffle(self.cols)
        return self.rows[:cnt], self.cols[:cnt]


def style_positions(mask: np.ndarray, rng: np.random.Generator, mode: str = "random",
                    samples: int = STYLE_SUBSAMPLES, draws: int = STYLE_DRAWS
                    ) -> tuple[np.ndarray, np.ndarray]:
    """``draws`` × ``samples`` in-mask style pixels (rows, cols), as ``forward_cat`` draws them.

    Random: each draw shuffles all in-mask pixels and keeps the first ``samples``
    (duplicates across draws possible). Strided: every (N // samples)-th pixel.
    """
    h, w = mask.shape
    rows, cols = _col_major(np.arange(h), np.arange(w))
    keep = mask[rows, cols]
    pts = np.stack([rows[keep], cols[keep]], 1)
    k = min(samples, len(pts))
    out = []
    for _ in range(draws):
        if mode == "random":
            rng.shuffle(pts)
            sel = pts[:k]
        else:
            sel = pts[:: len(pts) // k][:k]
        out.append(sel.copy())
    allp = np.concatenate(out[::-1], 0)  # the official code prepends each new draw
    return allp[:, 0], allp[:, 1]
