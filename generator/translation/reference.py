"""Reference generators for MNIST-Single (rows of the SSIM table) and batch inference.

The colour oracle needs no stored ground truth: on MNIST-Single the ground truth of a pair is
a function of its two inputs (the source's binary shape painted with the exemplar's two
colours), so the oracle recovers it from the images it is given.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["identity", "copy_exemplar", "colour_oracle", "border_colour", "two_colours",
           "translate_images"]


def identity(source: np.ndarray, exemplar: np.ndarray) -> np.ndarray:
    """The source image itself."""
    return source


def copy_exemplar(source: np.ndarray, exemplar: np.ndarray) -> np.ndarray:
    """The exemplar image itself."""
    return exemplar


def _mode_colour(pixels: np.ndarray) -> np.ndarray:
    colours, counts = np.unique(pixels.reshape(-1, 3), axis=0, return_counts=True)
    return colours[np.argmax(counts)]


def border_colour(image: np.ndarray) -> np.ndarray:
    """The most frequent colour of the one-pixel border (the background)."""
    border = np.concatenate([image[0], image[-1], image[1:-1, 0], image[1:-1, -1]])
    return _mode_colour(border)


def two_colours(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(background, foreground): the border colour and the most frequent other colour
    (its complement when the image has a single colour)."""
    bg = border_colour(image)
    other = image[np.any(image != bg, axis=-1)]
    fg = _mode_colour(other) if len(other) else (255 - bg).astype(image.dtype)
    return bg, fg


def exemplar_background(source: np.ndarray, exemplar: np.ndarray) -> np.ndarray:
    """The exemplar's background colour everywhere: no digit at all. What a translator that
    has collapsed to the exemplar's colour scores; a model must beat it to show shapes."""
    return np.broadcast_to(border_colour(exemplar), source.shape).astype(np.uint8).copy()


def colour_oracle(source: np.ndarray, exemplar: np.ndarray) -> np.ndarray:
    """Binarise ``source`` against its background and paint it with the exemplar's colours.

    Both uint8 H×W×3; reproduces MNIST-Single's ground truth exactly.
    """
    mask = np.any(source != border_colour(source), axis=-1)
    bg, fg = two_colours(exemplar)
    return np.where(mask[..., None], fg, bg).astype(np.uint8)


@torch.no_grad()
def translate_images(model, sources: np.ndarray, exemplars: np.ndarray, src: str,
                     seed: int = 0, device: str = "cpu", batch: int = 250) -> np.ndarray:
    """uint8 (N, H, W, 3) sources of domain ``src`` → uint8 translations (the noise of
    stochastic models is drawn from ``seed``)."""
    from stylestudy.generator.translation.train import to_tensor

    gen = torch.Generator(device=device).manual_seed(seed)
    out = []
    for i in range(0, len(sources), batch):
        x = to_tensor(sources[i:i + batch]).to(device)
        e = to_tensor(exemplars[i:i + batch]).to(device)
        y = model.translate(x, e, src, gen)
        out.append(((y.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu())
    return torch.cat(out).numpy()
