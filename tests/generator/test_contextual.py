"""Contextual loss (Mechrez et al. 2018): the CX term against explicit loops over the paper's
equations, and a small run on real weights."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from stylestudy.errors import UserError
from stylestudy.generator.method import Request, get
from stylestudy.generator.methods import contextual as M
from tests.generator.stylepairs import one_thread, pair, ready_method, style_progress


@pytest.fixture(autouse=True)
def _single_thread():
    with one_thread():
        yield


def _cx_loops(i, t, h, b=1.0):
    """CX by loops: centre by T's mean, cosine, d = (1 − cos)/2, d̃ = d / (min_k d_ik + ε),
    w = exp((b − d̃)/h), CX_ij = w_ij / Σ_k w_ik, CX = (1/N) Σ_j max_i CX_ij."""
    i, t = i.numpy(), t.numpy()
    mu = t.mean(0)
    ic = [(r - mu) / np.linalg.norm(r - mu) for r in i]
    tc = [(r - mu) / np.linalg.norm(r - mu) for r in t]
    d = np.array([[(1 - float(a @ c)) / 2 for c in tc] for a in ic])
    cx = np.zeros_like(d)
    for a in range(len(ic)):
        rel = d[a] / (d[a].min() + 1e-5)
        w = np.exp((b - rel) / h)
        cx[a] = w / w.sum()
    return float(np.mean([cx[:, j].max() for j in range(len(tc))]))


@pytest.mark.parametrize("h", [0.5, 0.1, 1.0])
def test_cx_against_loops(h):
    g = torch.Generator().manual_seed(1)
    i = torch.rand(30, 7, generator=g, dtype=torch.float64)
    t = torch.rand(45, 7, generator=g, dtype=torch.float64)
    got = M.contextual_similarity(i, t, h).item()
    assert got == pytest.approx(_cx_loops(i, t, h), rel=1e-5)
    assert M.contextual_loss(i, t, h).item() == pytest.approx(-math.log(got), rel=1e-5)


def test_identical_sets_have_cx_one():
    t = torch.eye(5, dtype=torch.float64) + 0.1
    assert M.contextual_similarity(t, t.clone()).item() == pytest.approx(1.0, abs=1e-6)
    assert M.contextual_loss(t, t.clone()).item() == pytest.approx(0.0, abs=1e-6)


def test_sampling_only_above_65_squared():
    rng = np.random.default_rng(0)
    assert M.sample_positions(65 * 65, rng) is None
    idx = M.sample_positions(70 * 70, rng)
    assert len(idx) == 65 * 65 and len(set(idx.tolist())) == 65 * 65


@pytest.fixture(scope="module")
def method(weights_dir):
    return ready_method("contextual", weights_dir)


@pytest.mark.slow
def test_run_moves_gram_towards_style_and_is_deterministic(method):
    cls, inst = method
    content, style = pair(128)
    out = inst.run(Request(content=content, style=style, seed=0,
                           params=cls.validate_params({"iterations": 8}), size=128))
    assert out.shape == (96, 128, 3)
    assert style_progress(out, content, style, inst.ctx.weights_dir) < 0.97
    assert inst.provenance()["contextual"]["layers"]["content"] == "relu4_2"
    small = cls.validate_params({"iterations": 2, "init": "noise"})
    a, b, c = (inst.run(Request(content=content, style=style, seed=s, params=small, size=48))
               for s in (1, 1, 2))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_parameters_are_validated():
    cls = get("contextual")
    for bad in ({"h": 0.0}, {"init": "style"}, {"iterations": 0}, {"bandwidth": 0.5}):
        with pytest.raises(UserError):
            cls.validate_params(bad)
