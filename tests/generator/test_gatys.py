"""Gatys et al. 2016: loss terms against hand-computed values, and a tiny run."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stylestudy.generator.method import Request, RunContext, get
from stylestudy.generator.methods.gatys import content_loss, gram, style_layer_loss


def test_gram_and_style_loss_hand_case():
    f = torch.tensor([[1.0, 2.0], [0.0, 1.0]])  # N_l = 2 filters, M_l = 2 positions
    assert gram(f).tolist() == [[5.0, 2.0], [2.0, 1.0]]
    a = torch.zeros(2, 2)
    # Σ (G − A)² = 25 + 4 + 4 + 1 = 34; 1/(4·N²·M²) = 1/64
    assert style_layer_loss(f, a).item() == pytest.approx(34 / 64)


def test_content_loss_hand_case():
    assert content_loss(torch.tensor([1.0, 3.0]), torch.tensor([0.0, 1.0])).item() == 2.5


def test_layers_are_the_papers():
    """Each paper layer maps to the ReLU right after that conv in torchvision's VGG19."""
    import torchvision

    from stylestudy.generator.encoder import layer_names
    from stylestudy.generator.methods.gatys import CONTENT_LAYER, STYLE_LAYERS

    feats = torchvision.models.vgg19(weights=None).features
    convs = [i for i, m in enumerate(feats) if isinstance(m, torch.nn.Conv2d)]
    names = [f"conv{b}_{c}" for b, n in ((1, 2), (2, 2), (3, 4), (4, 4), (5, 4))
             for c in range(1, n + 1)]
    by_name = dict(zip(names, convs, strict=True))
    index = {n: i for i, n in enumerate(layer_names("vgg19"))}
    assert len(index) == len(feats)
    for paper, tap in [*STYLE_LAYERS.items(), CONTENT_LAYER]:
        assert index[tap] == by_name[paper] + 1 and isinstance(feats[index[tap]], torch.nn.ReLU)


@pytest.mark.slow
def test_tiny_run_is_deterministic_and_records_weights(use_weights):
    cls = get("gatys")
    inst = cls(RunContext())
    inst.setup()
    rng = np.random.default_rng(0)
    content = rng.random((24, 32, 3)).astype(np.float32)
    style = rng.random((40, 40, 3)).astype(np.float32)
    params = cls.validate_params({"iterations": 3})
    a = inst.generate(Request(content=content, style=style, seed=1, params=params, size=32))
    b = inst.generate(Request(content=content, style=style, seed=1, params=params, size=32))
    assert a.image.shape == (24, 32, 3)
    assert np.array_equal(a.image, b.image)
    rec = inst.ctx.weights_used["vgg19-caffe-q8"]
    assert rec["calibrated"] is True and "BGR" in rec["convention"]
    assert a.provenance["gatys"]["layers"]["content"] == "conv4_2"


def test_content_init_runs(use_weights):
    """Before: init 'content' failed in L-BFGS ("view size is not compatible"): the clone of
    the permuted content kept its channel-last strides."""
    cls = get("gatys")
    inst = cls(RunContext())
    inst.setup()
    rng = np.random.default_rng(0)
    content = rng.random((24, 32, 3)).astype(np.float32)
    style = rng.random((40, 40, 3)).astype(np.float32)
    params = cls.validate_params({"iterations": 2, "init": "content"})
    out = inst.generate(Request(content=content, style=style, seed=1, params=params, size=32))
    assert out.image.shape == (24, 32, 3)
