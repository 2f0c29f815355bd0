"""A small guided project: the demo cat as content and a two-colour textured style."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from PIL import Image

DEMO = Path(__file__).resolve().parents[2] / "stylestudy" / "demo_data"
#: style halves: warm stripes on top, cool stripes below (each half > 10000 pixels)
STYLE_SHAPE = (200, 200)

MANIFEST = """\
# A guided set (the guide editor keeps this comment)
name: guided   # set name
size: 64
seeds: [0]
contents: [chelsea.png]
styles: [two-tone.png]
methods:
  - name: strotss
    params: {iterations: 4, content_weight: 0.0}   # small and style-led, for the test
"""


def two_tone_style(seed: int = 0) -> np.ndarray:
    h, w = STYLE_SHAPE
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    stripes = 0.5 + 0.5 * np.sin((xx + yy) / 5.0)
    img = np.zeros((h, w, 3))
    top, bottom = slice(0, h // 2), slice(h // 2, h)
    img[top] = np.stack([0.75 + 0.2 * stripes, 0.25 + 0.3 * stripes, 0.1 + 0 * stripes],
                        -1)[top]
    img[bottom] = np.stack([0.1 + 0 * stripes, 0.35 + 0.3 * stripes, 0.7 + 0.25 * stripes],
                           -1)[bottom]
    img += 0.04 * rng.standard_normal(img.shape)
    return (np.clip(img, 0, 1) * 255).round().astype(np.uint8)


def make_project(folder: Path) -> Path:
    """Images and a manifest in ``folder``; the manifest's path."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(DEMO / "contents" / "chelsea.png", folder / "chelsea.png")
    Image.fromarray(two_tone_style()).save(folder / "two-tone.png")
    path = folder / "set.yaml"
    path.write_text(MANIFEST)
    return path
