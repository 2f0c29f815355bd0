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


def style_progress(out: np.ndarray, content: np.ndarray, style: np.ndarray,
                   weights_dir: str) -> float:
    """gram_distance(out, style) / gram_distance(content, style) on VGG19 relu1_1 … relu4_1:
    below 1 when a stylization moved the content's Gram statistics towards the style's."""
    from stylestudy.generator.encoder import load_encoder

    enc, _ = load_encoder("vgg19-caffe-q8", ("relu1_1", "relu2_1", "relu3_1", "relu4_1"),
                          weights_dir=weights_dir)
    return gram_distance(out, style, enc) / gram_distance(content, style, enc)


def ready_method(name: str, weights_dir) -> tuple[type, object]:
    """The registered method ``name`` and an instance set up on the verified weights."""
    from stylestudy.generator.method import RunContext, get

    cls = get(name)
    inst = cls(RunContext(weights_dir=str(weights_dir)))
    inst.setup()
    return cls, inst


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
