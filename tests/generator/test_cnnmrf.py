"""CNNMRF (Li & Wand 2016): loss terms against explicit loops over the paper's patches and the
authors' update rule; a small run on real weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stylestudy.errors import UserError
from stylestudy.generator.method import Request
from stylestudy.generator.methods import cnnmrf as M
from tests.generator.stylepairs import one_thread, pair, ready_method, style_progress


@pytest.fixture(autouse=True)
def _single_thread():
    with one_thread():
        yield


def test_grid_keeps_the_last_row():
    assert M.grid(7, 3, 2).tolist() == [0, 2, 4]
    assert M.grid(8, 3, 2).tolist() == [0, 2, 4, 5]  # 5 = 8 − 3 added (flag_all)
    assert M.grid(3, 3, 2).tolist() == [0]


def test_coverage_hand_case():
    c = M.coverage(5, 5, 3, 2)[0, 0]  # patches start at 0 and 2 on both axes
    assert c[0, 0] == 1 and c[1, 1] == 1 and c[2, 0] == 2 and c[2, 2] == 4 and c[4, 4] == 1


def _loops(f, fs, size, stride):
    """Energy and gradient by explicit loops: NN by normalised cross-correlation, squared
    distance weighted 1/c_k (energy), and the authors' update Σ_i (x − t)/c (gradient)."""
    f, fs = f[0].numpy(), fs[0].numpy()
    _, h, w = f.shape
    ys, xs = M.grid(h, size, stride), M.grid(w, size, stride)
    tgt = [fs[:, y:y + size, x:x + size] for y in M.grid(fs.shape[1], size, stride)
           for x in M.grid(fs.shape[2], size, stride)]
    count = np.zeros((h, w))
    for y in ys:
        for x in xs:
            count[y:y + size, x:x + size] += 1
    energy, grad = 0.0, np.zeros_like(f)
    for y in ys:
        for x in xs:
            p = f[:, y:y + size, x:x + size]
            scores = [(p * t).sum() / np.linalg.norm(p) / np.linalg.norm(t) for t in tgt]
            t = tgt[int(np.argmax(scores))]
            c = count[y:y + size, x:x + size]
            energy += 0.5 * ((p - t) ** 2 / c).sum()
            grad[:, y:y + size, x:x + size] += (p - t) / c
    return energy, grad


@pytest.mark.parametrize("shape", [(6, 9, 11), (4, 8, 8)])
def test_mrf_loss_and_gradient_against_loops(shape):
    g = torch.Generator().manual_seed(0)
    c, h, w = shape
    f = torch.rand(1, c, h, w, generator=g, dtype=torch.float64).requires_grad_()
    fs = torch.rand(1, c, h + 3, w - 1, generator=g, dtype=torch.float64)
    style = M.StylePatches(fs, 3, 2)
    loss = M.mrf_loss(f, style, 2)
    loss.backward()
    want_e, want_g = _loops(f.detach(), fs, 3, 2)
    assert loss.item() == pytest.approx(want_e, rel=1e-5)
    np.testing.assert_allclose(f.grad[0].numpy(), want_g, rtol=1e-5, atol=1e-12)


def test_content_and_tv_hand_cases():
    a, b = torch.tensor([1.0, 3.0]), torch.tensor([0.0, 1.0])
    assert M.content_loss(a, b).item() == pytest.approx((1 + 4) / 2)  # MSECriterion mean
    x = torch.tensor([[[[0.0, 1.0, 3.0], [2.0, 2.0, 2.0]]]])  # 2×3
    # positions (0,0), (0,1): right diffs −1, −2; down diffs −2, −1 → ½ (1 + 4 + 4 + 1) = 5
    assert M.tv_loss(x).item() == pytest.approx(5.0)


@pytest.fixture(scope="module")
def method(weights_dir):
    return ready_method("cnnmrf", weights_dir)


@pytest.mark.slow
def test_run_moves_gram_towards_style_and_is_deterministic(method):
    cls, inst = method
    content, style = pair(128)
    params = cls.validate_params({"iterations": 12, "resolutions": 1})
    out = inst.run(Request(content=content, style=style, seed=3, params=params, size=128))
    assert out.shape == (96, 128, 3)
    assert style_progress(out, content, style, inst.ctx.weights_dir) < 0.985
    prov = inst.provenance()["cnnmrf"]
    assert prov["evaluations"] == 12 and prov["levels"][0]["size"] == [96, 128]
    assert inst.ctx.weights_used["vgg19-caffe-q8"]["calibrated"] is True
    small = cls.validate_params({"iterations": 2, "resolutions": 2, "init": "noise"})
    a, b, c = (inst.run(Request(content=content, style=style, seed=s, params=small, size=64))
               for s in (1, 1, 2))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_parameters_are_validated(method):
    cls, inst = method
    with pytest.raises(UserError):
        cls.validate_params({"init": "random"})
    with pytest.raises(UserError):
        cls.validate_params({"resolutions": 0})
    content, style = pair(32)
    params = cls.validate_params({"iterations": 1, "resolutions": 3})
    with pytest.raises(UserError, match="smaller than the patch size"):
        inst.run(Request(content=content, style=style, seed=0, params=params, size=32))
