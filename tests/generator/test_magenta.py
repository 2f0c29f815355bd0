"""Magenta arbitrary-style network through onnxruntime from the verified ONNX files."""

from __future__ import annotations

import numpy as np
import pytest

from stylestudy.generator.method import Request, RunContext, get

pytest.importorskip("onnxruntime", reason="needs the 'magenta' extra (onnxruntime)")


@pytest.fixture(scope="module")
def magenta(weights_dir):
    import os

    old = os.environ.get("STYLESTUDY_WEIGHTS_DIR")
    os.environ["STYLESTUDY_WEIGHTS_DIR"] = str(weights_dir)
    try:
        inst = get("magenta")(RunContext())
        inst.setup()
    finally:
        if old is None:
            del os.environ["STYLESTUDY_WEIGHTS_DIR"]
        else:
            os.environ["STYLESTUDY_WEIGHTS_DIR"] = old
    return inst


def _req(inst, strength, size=96):
    rng = np.random.default_rng(0)
    y = np.linspace(0, 1, 90, dtype=np.float32)
    content = np.stack([np.tile(y[:, None], (1, 120))] * 3, -1)  # grey ramp
    style = np.zeros((200, 200, 3), np.float32)
    style[..., 0] = 0.8 + 0.2 * rng.random((200, 200))  # a red texture
    params = type(inst).validate_params({"strength": strength})
    return Request(content=content, style=style, seed=0, params=params, size=size)


def test_output_size_weights_and_determinism(magenta):
    a = magenta.generate(_req(magenta, 1.0))
    b = magenta.generate(_req(magenta, 1.0))
    assert a.image.shape == (72, 96, 3)
    assert np.array_equal(a.image, b.image)
    for key in ("magenta-predict", "magenta-transform"):
        assert magenta.ctx.weights_used[key]["calibrated"] is True


def test_strength_moves_towards_the_style(magenta):
    """A red style makes the grey content redder; strength 0 keeps it closer to grey."""
    full = magenta.generate(_req(magenta, 1.0)).image.astype(float)
    none = magenta.generate(_req(magenta, 0.0)).image.astype(float)
    redness = lambda im: (im[..., 0] - im[..., 1:].mean(-1)).mean()  # noqa: E731
    assert redness(full) > redness(none) + 5
