"""STROTSS loss terms: hand-computed small cases, and fast forms against the formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from stylestudy.generator.strotss import losses as L

A = 1 - 1 / math.sqrt(2)  # cosine distance between [1, 0] and [1, 1]


def t(rows):
    return torch.tensor(rows, dtype=torch.float64)


def test_remd_hand_case():
    # X = {e1}; S = {e1, e2}: row minima (0) mean 0; column minima (0, 1) mean 0.5 → 0.5
    x, s = t([[1, 0, 0]]), t([[1, 0, 0], [0, 1, 0]])
    assert L.remd_from_cost(L.cosine_cost(x, s)).item() == pytest.approx(0.5)
    st = L.StyleStats.from_features(s)
    assert L.remd_cosine(x, st.unit, st.weight).item() == pytest.approx(0.5)
    # X = {e1, e2}; S = {[1, 1]}: rows (A, A) → A; column min A → A
    assert L.remd_from_cost(L.cosine_cost(t([[1, 0, 0], [0, 1, 0]]), t([[1, 1, 0]]))).item() == \
        pytest.approx(A)


def test_palette_hand_case():
    # YUV is a rotation: cos and L2 keep their RGB values. x = red; S = {red, green}.
    # P(x, red) = 0 + sqrt(1e-5 / 3) (clamped); P(x, green) = 1 + sqrt(2 / 3).
    x, s = t([[1, 0, 0]]), t([[1, 0, 0], [0, 1, 0]])
    p_same, p_other = math.sqrt(1e-5 / 3), 1 + math.sqrt(2 / 3)
    want = max(p_same, (p_same + p_other) / 2)  # 0.909161
    got = L.remd_from_cost(L.palette_cost(L.to_yuv(x), L.to_yuv(s))).item()
    assert got == pytest.approx(want, rel=1e-5)
    st = L.StyleStats.from_features(s)
    assert L.remd_palette(x, st.yuv, st.weight).item() == pytest.approx(want, rel=1e-5)


def test_moment_hand_case():
    # X = {0, 2} (d = 1): μ = 1, Σ = 1 (biased); S = {1, 1, 1}: μ = 1, Σ = 0 → 0 + 1
    x, s = t([[0.0], [2.0]]), t([[1.0], [1.0], [1.0]])
    assert L.moment_loss_reference(x, s).item() == pytest.approx(1.0)
    assert L.moment_loss(x, t([[1.0]]), t([[0.0]])).item() == pytest.approx(1.0)
    # d = 2: X = {[0, 0], [2, 2]}: μ = (1, 1), Σ = [[1, 1], [1, 1]]; S = {[1, 3]}: μ = (1, 3)
    # → mean|Δμ| = 1, mean|ΔΣ| = 1 → 2
    x, s = t([[0, 0], [2, 2]]), t([[1, 3]])
    assert L.moment_loss_reference(x, s).item() == pytest.approx(2.0)
    assert L.moment_loss(x, t([[1, 3]]), t([[0, 0], [0, 0]])).item() == pytest.approx(2.0)


def test_self_similarity_hand_case():
    # X = {e1, e2, [1, 1]}: columns of D normalised: [0, 1/(1+A), A/(1+A)], ..., [½, ½, 0];
    # C = three orthogonal vectors: every column [0, ½, ½] in some order.
    x = t([[1, 0, 0], [0, 1, 0], [1, 1, 0]])
    c = t([[1, 0, 0], [0, 1, 0], [0, 0, 1]])
    dev = abs(1 / (1 + A) - 0.5)  # 0.273459
    total = 4 * dev  # sum over the 9 entries
    assert L.self_similarity_loss(x, c).item() == pytest.approx(total / 9 * 3)  # official ×n
    assert L.self_similarity_loss(x, c, times_n=False).item() == pytest.approx(total / 9)


def test_combine_normalisers():
    one = torch.tensor(1.0)
    # official: (α·1 + 1 + 1 + 1/max(α, 1)) / (α + 2)
    assert L.combine(one, one, one, one, 4.0).item() == pytest.approx((4 + 2 + 0.25) / 6)
    assert L.combine(one, one, one, one, 0.5).item() == pytest.approx((0.5 + 2 + 1) / 2.5)
    # paper: (α + 2 + 1/α) / (2 + α + 1/α) = 1
    assert L.combine(one, one, one, one, 4.0, "paper").item() == pytest.approx(1.0)


@pytest.fixture
def feats():
    g = torch.Generator().manual_seed(0)
    n, d, pool = 48, 40, 90
    x = (torch.rand(n, d, generator=g, dtype=torch.float64) + 0.01).requires_grad_()
    c = torch.rand(n, d, generator=g, dtype=torch.float64) + 0.01
    keys = np.random.default_rng(0).integers(0, pool, size=200)  # duplicates, as the draws
    s = (torch.rand(pool, d, generator=g, dtype=torch.float64) + 0.01)[keys]
    return x, c, s, keys


def _grad(f, x):
    v = f()
    (g,) = torch.autograd.grad(v, x)
    return v.item(), g


def test_fast_forms_equal_the_formulas(feats):
    """Values and gradients of the fast forms equal the dense autograd formulas."""
    x, c, s, keys = feats
    st = L.StyleStats.from_features(s, keys=keys[:, None])
    assert st.unit.shape[0] == len(np.unique(keys))
    pairs = [
        (lambda: L.remd_cosine(x, st.unit, st.weight),
         lambda: L.remd_from_cost(L.cosine_cost(x, s))),
        (lambda: L.remd_palette(x[:, :3], st.yuv, st.weight),
         lambda: L.remd_from_cost(L.palette_cost(L.to_yuv(x[:, :3]), L.to_yuv(s[:, :3])))),
        (lambda: L.moment_loss(x, st.mean, st.cov), lambda: L.moment_loss_reference(x, s)),
        (lambda: L.self_similarity_loss(x, c), lambda: _dp_formula(x, c)),
    ]
    for fast, ref in pairs:
        v1, g1 = _grad(fast, x)
        v2, g2 = _grad(ref, x)
        assert v1 == pytest.approx(v2, rel=1e-12)
        assert torch.allclose(g1, g2, rtol=1e-9, atol=1e-12)


def _dp_formula(x, c):
    mx = L.cosine_cost(x, x)
    mc = L.cosine_cost(c, c)
    return (mx / mx.sum(0, keepdim=True) - mc / mc.sum(0, keepdim=True)).abs().mean() * len(x)


def test_yuv_matrix_is_the_official_rotation():
    m = L.YUV.double()
    assert torch.allclose(m @ m.t(), torch.eye(3, dtype=torch.float64), atol=2e-6)
    assert torch.allclose(m[0], torch.full((3,), 0.57735, dtype=torch.float64), atol=1e-6)


def test_black_pixels_do_not_make_nan():
    """A pure black style or output pixel: the official 0/0 cosine is NaN; here D = 1."""
    x = t([[0, 0, 0], [0.5, 0.2, 0.1]]).requires_grad_()
    s = t([[0, 0, 0], [0.4, 0.4, 0.4]])
    st = L.StyleStats.from_features(s)
    v = L.remd_palette(x, st.yuv, st.weight)
    v.backward()
    assert torch.isfinite(v) and torch.isfinite(x.grad).all()
    # black ↔ black: D = 1 (no direction) + sqrt(1e-5 / 3) (clamped distance)
    m = L.palette_cost(L.to_yuv(x.detach()), st.yuv)
    assert m[0, 0].item() == pytest.approx(1 + (1e-5 / 3) ** 0.5)
