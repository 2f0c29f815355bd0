"""Sliced-Wasserstein style loss (Heitz et al. 2021): the term against explicit per-direction
loops, quantiles for unequal sizes, and a small run on real weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stylestudy.errors import UserError
from stylestudy.generator.method import Request, get
from stylestudy.generator.methods import swd as M
from tests.generator.stylepairs import one_thread, pair, ready_method, style_progress


@pytest.fixture(autouse=True)
def _single_thread():
    with one_thread():
        yield


def _loops(x, s, dirs):
    """(1/(K·n)) Σ_k Σ_i (sort(v_k·x)_i − Q_k(i))², Q_k the style's sorted projections read at
    quantile positions (i + ½)·m/n − ½ (identity when m = n)."""
    x, s, dirs = x.numpy(), s.numpy(), dirs.numpy()
    n, m = x.shape[1], s.shape[1]
    total = 0.0
    for v in dirs:
        px = np.sort(v @ x)
        ps = np.sort(v @ s)
        pos = np.clip((np.arange(n) + 0.5) * m / n - 0.5, 0, m - 1)
        q = np.interp(pos, np.arange(m), ps)
        total += ((px - q) ** 2).sum()
    return total / (len(dirs) * n)


@pytest.mark.parametrize("m", [40, 40 * 4, 23])
def test_sliced_wasserstein_against_loops(m):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(6, 40, generator=g, dtype=torch.float64)
    s = torch.rand(6, m, generator=g, dtype=torch.float64) * 2
    dirs = M.directions(6, g).double()
    assert torch.allclose(dirs.norm(dim=1), torch.ones(6, dtype=torch.float64))
    got = M.sliced_wasserstein(x, M.sorted_quantiles(dirs @ s, 40), dirs).item()
    assert got == pytest.approx(_loops(x, s, dirs), rel=1e-5)


def test_same_distribution_gives_zero_and_directions_follow_the_seed():
    x = torch.rand(4, 30, dtype=torch.float64)
    perm = x[:, torch.randperm(30)]  # same point set, other order
    dirs = M.directions(4, torch.Generator().manual_seed(5)).double()
    assert M.sliced_wasserstein(x, M.sorted_quantiles(dirs @ perm, 30), dirs).item() < 1e-20
    a = M.directions(8, torch.Generator().manual_seed(1))
    b = M.directions(8, torch.Generator().manual_seed(1))
    assert torch.equal(a, b)


@pytest.fixture(scope="module")
def method(weights_dir):
    return ready_method("swd", weights_dir)


@pytest.mark.slow
def test_run_moves_gram_towards_style_and_is_deterministic(method):
    cls, inst = method
    content, style = pair(128)
    params = cls.validate_params({"steps": 1, "iterations": 8})
    out = inst.run(Request(content=content, style=style, seed=0, params=params, size=128))
    assert out.shape == (96, 128, 3)
    assert style_progress(out, content, style, inst.ctx.weights_dir) < 0.97
    assert inst.provenance()["swd"]["evaluations"] == 8
    small = cls.validate_params({"steps": 1, "iterations": 2, "init": "mean"})
    a, b, c = (inst.run(Request(content=content, style=style, seed=s, params=small, size=32))
               for s in (1, 1, 2))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_parameters_are_validated():
    cls = get("swd")
    for bad in ({"steps": 0}, {"init": "noise"}, {"content_weight": -1.0}, {"slices": 4}):
        with pytest.raises(UserError):
            cls.validate_params(bad)
