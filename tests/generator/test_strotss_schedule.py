"""STROTSS pyramid, resizing, schedule and sampling as the official code does them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stylestudy.generator.strotss import pyramid as P
from stylestudy.generator.strotss.features import gather_bilinear, gather_floor
from stylestudy.generator.strotss.optimise import schedule
from stylestudy.generator.strotss.sampling import OutputSampler, style_positions


def test_pyramid_round_trips():
    x = torch.rand(1, 3, 42, 64, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    pyr = P.decompose(x, 5)
    assert [tuple(b.shape[-2:]) for b in pyr] == [(42, 64), (21, 32), (10, 16), (5, 8),
                                                   (2, 4), (1, 2)]
    # b0 + up(b1 + …) reverses x − up(down x) level by level: exact up to float rounding
    assert torch.allclose(P.synthesise(pyr), x, rtol=0, atol=1e-14)
    x32 = x.float()
    assert (P.synthesise(P.decompose(x32, 5)) - x32).abs().max().item() < 2e-7


def test_pyramid_uses_align_corners_true():
    x = torch.tensor([[[[0.0, 1.0]]]])
    # align_corners=True: down to 1 px at the left corner value 0, back up to [0, 0]
    pyr = P.decompose(x, 1)
    assert pyr[1].item() == 0.0 and pyr[0].flatten().tolist() == [0.0, 1.0]


@pytest.mark.parametrize("side,shape", [(64, (42, 64)), (128, (85, 128)), (256, (170, 256)),
                                        (512, (341, 512))])
def test_resize_sizes_of_the_example_content(side, shape):
    """481×321 (W×H) content (the official example): int(H·f) × int(W·f)."""
    x = torch.zeros(1, 3, 321, 481)
    assert tuple(P.resize_long_side(x, side).shape[-2:]) == shape


def test_schedule_matches_official():
    s = schedule(512, 1.0)
    assert [k.long_side for k in s] == [64, 128, 256, 512]
    assert [k.alpha for k in s] == [16.0, 8.0, 4.0, 2.0]
    assert [k.lr for k in s] == [2e-3, 2e-3, 2e-3, 1e-3]
    assert [k.first for k in s] == [True, False, False, False]
    assert [k.last for k in s] == [False, False, False, True]
    s = schedule(256, 0.5)
    assert [k.long_side for k in s] == [64, 128, 256] and [k.alpha for k in s] == [8, 4, 2]
    one = schedule(64, 1.0)
    assert len(one) == 1 and one[0].first and one[0].last and one[0].lr == 1e-3
    assert [k.long_side for k in schedule(300, 1.0)] == [75, 150, 300]


@pytest.mark.parametrize("shape,strides", [((42, 64), (1, 1)), ((85, 128), (1, 1)),
                                           ((170, 256), (1, 2)), ((341, 512), (3, 4))])
def test_grid_strides(shape, strides):
    s = OutputSampler.grid(np.ones(shape, bool), np.random.default_rng(0), "strided")
    rows, cols = np.unique(s.rows), np.unique(s.cols)
    assert rows[1] - rows[0] == strides[0] and cols[1] - cols[0] == strides[1]
    assert rows[0] == strides[0] // 2 and cols[0] == strides[1] // 2


def test_strided_count_at_64px():
    """N // 1024 stepping gives 1344 positions for the example at 64 px (official strided mode)."""
    s = OutputSampler.grid(np.ones((42, 64), bool), np.random.default_rng(0), "strided")
    rows, _ = s.draw(np.random.default_rng(0))
    assert len(rows) == 1344


def test_random_sampling_counts_and_independent_shuffles():
    rng = np.random.default_rng(0)
    s = OutputSampler.grid(np.ones((42, 64), bool), rng)
    r1, c1 = s.draw(rng)
    assert len(r1) == 1024 and r1.max() < 42 and c1.max() < 64
    # the row and column lists keep their multisets (independent permutations)
    assert sorted(s.rows.tolist()) == sorted(np.repeat(np.arange(42), 64).tolist())


def test_in_region_pairs_never_leave_the_region():
    mask = np.zeros((64, 64), bool)
    mask[:32, :32] = True
    mask[32:, 32:] = True  # two diagonal blocks: independent shuffles would pair across
    rng = np.random.default_rng(0)
    joint = OutputSampler.grid(mask, rng, pairing="joint")
    official = OutputSampler.grid(mask, rng, pairing="independent")
    for _ in range(5):
        r, c = joint.draw(rng)
        assert mask[r, c].all()
    r, c = official.draw(rng)
    assert not mask[r, c].all()  # the official quirk, kept behind a flag


def test_style_positions_in_mask_and_count():
    mask = np.zeros((40, 50), bool)
    mask[5:35, 10:45] = True  # 1050 pixels
    r, c = style_positions(mask, np.random.default_rng(0))
    assert len(r) == 5000 and mask[r, c].all()
    r, c = style_positions(mask, np.random.default_rng(0), mode="strided")
    assert len(r) == 5000 and mask[r, c].all()


def test_bilinear_and_floor_gathers():
    # level 0: 4×4 map with value 10·r + c; level 1: 2×2 map (pooled), value 100·r + c
    m0 = (10 * torch.arange(4.0).view(4, 1) + torch.arange(4.0)).view(1, 1, 4, 4)
    m1 = (100 * torch.arange(2.0).view(2, 1) + torch.arange(2.0)).view(1, 1, 2, 2)
    rows, cols = np.array([3, 1]), np.array([1, 2])
    (x,) = gather_bilinear([[m0, m1]], rows, cols)
    # level 1 positions (1.5, 0.5) → clamped rows, value 100 + 0.5; (0.5, 1.0) → 50 + 1
    assert x[:, 0].tolist() == [31.0, 12.0]
    assert x[:, 1].tolist() == pytest.approx([100.5, 51.0])
    f = gather_floor([m0, m1], rows, cols)
    assert f[:, 1].tolist() == [100.0, 1.0]  # truncation: (1, 0) and (0, 1)
