"""UNIT (NIPS 2017) against ``mingyuliutw/UNIT`` version_02's CoVAE32x32 and its trainer:
KL by hand, both domains in one shared batch, the context trainer's coordinate channels."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from stylestudy.generator.translation.baselines import Bias2d, CoDis32, CoVAE32, xy_channels
from stylestudy.generator.translation.models import build_model, vae_kl
from stylestudy.generator.translation.profiles import profile


def x(n: int, seed: int) -> torch.Tensor:
    return torch.rand(n, 3, 28, 28, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_kl_is_version02s_by_hand():
    # two rows (one image per domain), two latents each:
    # Σ(mu² + sd² − log sd²) = (0 + 1 − 0) + (4 + 0.25 − log 0.25) + (1 + 4 − log 4) + (0 + 1)
    mu = torch.tensor([[0.0, 2.0], [1.0, 0.0]])
    sd = torch.tensor([[1.0, 0.5], [2.0, 1.0]])
    total = 1 + 4.25 - math.log(0.25) + 5 - math.log(4) + 1
    assert vae_kl(mu, sd).item() == pytest.approx(total / 2, rel=1e-6)


def test_shared_layers_see_both_domains_as_one_batch():
    """The release concatenates the A and B batches before the shared layers, so the batch
    norm there mixes the domains: A's translation depends on the B batch beside it, and the
    first shared norm's running mean moves by 0.1 × the mean over both domains."""
    torch.manual_seed(0)
    gen = CoVAE32(8).train()
    xa = x(4, 1)
    bn = gen.enc_shared[0][1]
    h = torch.cat([gen._first(xa, "a"), gen._first(x(4, 2), "b")])
    want = 0.1 * gen.enc_shared[0][0](h).mean((0, 2, 3))
    torch.manual_seed(1)
    one = gen(xa, x(4, 2))
    torch.testing.assert_close(bn.running_mean, want, rtol=1e-5, atol=1e-7)
    torch.manual_seed(1)
    other = gen(xa, x(4, 3))
    assert not torch.allclose(one["x_ab"], other["x_ab"])
    assert one["mu"].shape == (8, 64, 1, 1)


def test_layers_are_version02s():
    gen = CoVAE32(8)
    block = gen.enc_shared[0]
    assert isinstance(block[1], nn.BatchNorm2d) and not block[1].affine
    assert isinstance(block[2], Bias2d)
    assert block[3].negative_slope == 0.01  # nn.LeakyReLU's default in LeakyReLUBNNS*
    assert gen.enc_a[0].in_channels == 5  # RGB + the two coordinate channels
    xy = xy_channels(1)[0]
    assert xy[0, 0, 0] == -1 and xy[1, 0, 0] == -1  # (i − 16)/16 at row 0, column 0
    assert xy[0, 31, 0] == 15 / 16 and xy[1, 0, 31] == 15 / 16 and xy[0, 0, 31] == -1
    dis = CoDis32(8).eval()
    assert dis(x(2, 0), "a").shape == (2, 1, 1, 1)
    assert dis.features(x(2, 0), "b").shape == (2, 64, 2, 2)


def test_init_and_a_training_step():
    prof = profile("unit", "smoke")
    assert prof["loss"] == {"gan": 1.0, "kl": 1e-4, "recon": 1e-3, "feature": 1e-4}
    model = build_model({"method": "unit", "variant": "nips2017", "profile": prof,
                         "ablation": "none", "adain_variant": "textbook", "seed": 0,
                         "allow_random_weights": True})
    head = model.dis.head
    assert torch.all(head.bias == 0.1)  # Xavier init with bias 0.1 for the discriminator
    bound = 2 ** 0.5 * math.sqrt(6 / (head.in_channels * 4 + head.out_channels * 4))
    assert head.weight.abs().max() <= bound
    out = model.train_step("train", lambda: (x(4, 0), x(4, 1)))
    assert set(out) == {"d", "g", "gan", "kl", "recon"}
    assert all(math.isfinite(v) for v in out.values())
