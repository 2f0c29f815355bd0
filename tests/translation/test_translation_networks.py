"""Shapes of every network at 28 and 32 px, and the hand-checkable building blocks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stylestudy.generator.translation.baselines import (
    AdaINGen,
    CoDis32,
    CoVAE32,
    MsImageDis,
    NLayerDiscriminator,
    ResnetGenerator,
)
from stylestudy.generator.translation.blocks import adain, channel_stats, feature_mask, tf_same_pad
from stylestudy.generator.translation.egscit import (
    EGSCIT,
    EGSCConfig,
    PatchDiscriminator,
    VAEGANRecon,
)
from stylestudy.generator.translation.losses import gram, kl, load_munit_vgg, lsgan_d, lsgan_g
from stylestudy.generator.translation.models import build_model
from stylestudy.generator.translation.profiles import METHODS, PROFILES, profile

SIZES = (28, 32)


def x(n: int, size: int) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(size)) * 2 - 1


@pytest.mark.parametrize("size", SIZES)
def test_egscit_paper_mnist_config_runs_at_full_resolution(size):
    cfg = EGSCConfig()  # released MNIST settings: ngf 64, n_1 = 1 (no down-sampling)
    net = EGSCIT(cfg)
    xa, xb = x(2, size), x(2, size)
    out = net.forward_train(xa, xb)
    for k in ("x_aa", "x_ab", "x_ba", "x_bb", "x_aba", "x_bab"):
        assert out[k].shape == (2, 3, size, size)
        assert out[k].abs().max() <= 1
    assert out["shared"].shape == (4, 64, size, size)
    # single-scale D, 4 SAME-padded stride-2 convs: 28 → 14 → 7 → 4 → 2 (the release's MNIST D)
    assert net.dis_a(xa).shape == (2, 1, 2, 2)
    assert net.translate(xa, xb, "a").shape == (2, 3, size, size)
    recon, shared = VAEGANRecon(cfg)(xa)
    assert recon.shape == (2, 3, size, size) and shared.shape == (2, 64, size, size)


@pytest.mark.parametrize("size", SIZES)
def test_egscit_downsampling_config(size):
    cfg = EGSCConfig(ngf=8, n_down=2, ndf=16, n_dis=3)
    net = EGSCIT(cfg)
    out = net.forward_train(x(2, size), x(2, size))
    assert out["x_ab"].shape == (2, 3, size, size)
    assert out["shared"].shape == (4, 32, size // 4, size // 4)


def test_stage1_features_are_frozen_in_stage2():
    net = EGSCIT(EGSCConfig(ngf=8, n_down=2, ndf=16, n_dis=3))
    assert not any(p.requires_grad for p in net.feat_a.parameters())
    ids = {id(p) for p in net.generator_parameters()}
    assert not ids & {id(p) for p in [*net.feat_a.parameters(), *net.feat_b.parameters()]}


@pytest.mark.parametrize("size", SIZES)
def test_cyclegan_shapes(size):
    assert ResnetGenerator(32, 6)(x(2, size)).shape == (2, 3, size, size)
    # 70×70 PatchGAN: 1×1 map at 28 px, 2×2 at 32 px
    side = {28: 1, 32: 2}[size]
    assert NLayerDiscriminator(64, 3)(x(2, size)).shape == (2, 1, side, side)


@pytest.mark.parametrize("size", SIZES)
def test_unit_coupled_vae_shapes(size):
    gen = CoVAE32(96)
    z, mu, sd = gen.encode(x(2, size), "a")
    assert z.shape == mu.shape == (2, 768, 1, 1) and torch.all(sd > 0)
    assert gen.decode(z, "b", size).shape == (2, 3, size, size)
    assert CoDis32(64)(x(2, size), "a").shape == (2, 1, 1, 1)


@pytest.mark.parametrize("size", SIZES)
def test_munit_small_image_shapes(size):
    gen = AdaINGen(64, 8, 256, n_down=2, n_style_down=3, n_res=4)
    c, s = gen.encode(x(2, size))
    assert c.shape == (2, 256, size // 4, size // 4) and s.shape == (2, 8, 1, 1)
    assert gen.decode(c, s, size).shape == (2, 3, size, size)
    outs = MsImageDis(64, 3, 2)(x(2, size))
    assert [o.shape[-1] for o in outs] == {28: [3, 1], 32: [4, 2]}[size]


def test_munit_three_scales_four_layers_crash_at_32px():
    """The default MsImageDis (3 scales × 4 layers) fails at 32 px."""
    with pytest.raises(RuntimeError):
        MsImageDis(64, 4, 3)(x(1, 32))


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name", PROFILES)
def test_every_profile_builds(method, name):
    prof = profile(method, name)
    cfg = {"method": method, "profile": prof, "ablation": "none", "adain_variant": "textbook",
           "seed": 0, "allow_random_weights": True}
    model = build_model(cfg)
    out = model.eval().translate(x(1, 28), x(1, 28), "a")
    assert out.shape == (1, 3, 28, 28)


@pytest.mark.parametrize("method", METHODS)
def test_long_profile_only_lengthens_cpu(method):
    """``long`` trains the ``cpu`` networks with the ``cpu`` losses, for more iterations."""
    cpu, long = profile(method, "cpu"), profile(method, "long")
    lengthened = {"name", "iters", "ckpt_every", "decay_from"}
    assert {k: v for k, v in cpu.items() if k not in lengthened} == \
        {k: v for k, v in long.items() if k not in lengthened}
    stages = zip(cpu["iters"], long["iters"], strict=True)
    assert all(n_long >= 5 * n_cpu for n_cpu, n_long in stages)
    if "decay_from" in cpu:  # CycleGAN's linear decay starts half-way in both
        assert long["decay_from"] / long["iters"][0] == cpu["decay_from"] / cpu["iters"][0]


def test_textbook_adain_gives_the_exemplar_statistics():
    content = torch.randn(2, 4, 7, 7) * 3 + 1
    ex = torch.randn(2, 4, 7, 7) * 0.5 - 2
    mean_e, var_e = channel_stats(ex)
    mean_o, var_o = channel_stats(adain(content, mean_e, var_e, "textbook"))
    torch.testing.assert_close(mean_o, mean_e, atol=1e-5, rtol=0)
    torch.testing.assert_close(var_o, var_e, atol=1e-3, rtol=1e-3)


def test_code_adain_is_the_released_formula():
    # x = [0, 2] (mean 1, var 1); exemplar mean 3, var 4: out = 3·(x − 1)/1 + 4 = [1, 7]
    xin = torch.tensor([0.0, 2.0]).view(1, 1, 1, 2)
    out = adain(xin, torch.tensor(3.0).view(1, 1, 1, 1), torch.tensor(4.0).view(1, 1, 1, 1),
                "code")
    assert out.flatten().tolist() == [1.0, 7.0]


def test_feature_mask_range():
    m = feature_mask(torch.tensor([[[[-100.0, 0.0], [100.0, 0.0]]]]), (2, 2))
    assert m.flatten().tolist() == [0.5, 0.75, 1.0, 0.75]
    assert feature_mask(torch.zeros(1, 1, 4, 4), (2, 2)).shape == (1, 1, 2, 2)


def test_tf_same_padding():
    # TF SAME, k 4, s 2: even sizes pad 1/1; 7 px pads 1 before and 2 after (out 4)
    assert tf_same_pad(torch.zeros(1, 1, 28, 28), 4, 2).shape[-1] == 30
    padded = tf_same_pad(torch.ones(1, 1, 7, 7), 4, 2)[0, 0]
    assert padded.shape == (10, 10)
    assert padded[1].tolist() == [0.0] + [1.0] * 7 + [0.0, 0.0]
    assert padded[:, 1].tolist() == [0.0] + [1.0] * 7 + [0.0, 0.0]


def test_discriminator_first_layer_scales_negatives_by_0_04():
    d = PatchDiscriminator(ndf=1, n_layers=1)
    with torch.no_grad():
        d.convs[0].weight.zero_()
        d.convs[0].bias.fill_(-1.0)
        d.head.weight.fill_(1.0)
        d.head.bias.zero_()
    # conv_0 = −1 → lrelu twice → −0.04; head ×1 → −0.04 → lrelu on the logit → −0.008
    out = d(torch.zeros(1, 3, 4, 4))
    torch.testing.assert_close(out, torch.full_like(out, -0.008))


def test_loss_values_by_hand():
    real, fake = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    # 0.5·[mean((1−1)², (0−1)²) + mean(0², 1²)] = 0.5·(0.5 + 0.5)
    assert lsgan_d(real, fake).item() == 0.5
    assert lsgan_g(fake).item() == 0.5
    assert kl(torch.tensor([1.0, 3.0])).item() == 5.0
    f = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 2, 1, 2)
    # F Fᵀ / (H·W) with rows [1, 2] and [3, 4]: [[5, 11], [11, 25]] / 2
    assert gram(f).squeeze(0).tolist() == [[2.5, 5.5], [5.5, 12.5]]


def test_generator_norm_option():
    plain = EGSCIT(EGSCConfig(ngf=8, n_down=2, ndf=16, n_dis=3))
    normed = EGSCIT(EGSCConfig(ngf=8, n_down=2, ndf=16, n_dis=3, norm="in"))
    count = [sum(isinstance(m, torch.nn.InstanceNorm2d) for m in net.dec_a.modules())
             for net in (plain, normed)]
    assert count == [0, 6]  # 3 decoder resblocks × 2 convs; none as launched
    assert normed.translate(x(2, 28), x(2, 28), "b").shape == (2, 3, 28, 28)


def test_munit_vgg_loss_by_hand():
    """relu5_3 without pool4 (stride 8: 4×4 at 32 px); mean squared difference of the
    per-channel standardised maps (biased variance + 1e-5), computed here in float64."""
    loss, record = load_munit_vgg(allow_random=True)
    a, b = x(2, 32), x(2, 32).flip(0)
    fa, fb = loss.features(a), loss.features(b)
    assert fa.shape == (2, 512, 4, 4)

    def standardise(f):
        f = f.double().numpy().reshape(2, 512, 16)
        return (f - f.mean(2, keepdims=True)) / np.sqrt(f.var(2, keepdims=True) + 1e-5)

    want = np.mean((standardise(fa) - standardise(fb)) ** 2)
    assert loss(a, b).item() == pytest.approx(want, rel=1e-5)
    assert loss(a, a).item() == 0.0
    assert "calibrated" in record


def test_munit_trains_with_the_vgg_loss():
    prof = profile("munit", "smoke")
    prof["loss"]["vgg"] = 1.0
    assert profile("munit", "paper")["loss"]["vgg"] == 1.0  # EGSC-IT's MUNIT run
    model = build_model({"method": "munit", "profile": prof, "ablation": "none",
                         "adain_variant": "textbook", "seed": 0, "allow_random_weights": True})
    assert model.vgg is not None and "vgg16" in model.weights_used
    out = model.train_step("train", lambda: (x(2, 32), x(2, 32).flip(0)))
    assert all(np.isfinite(v) for v in out.values())
    assert not any(p.grad is not None and p.grad.abs().sum() > 0
                   for p in model.vgg.parameters())  # the VGG stays frozen


def test_egscit_perceptual_loss_by_hand():
    """EGSC-IT's content and style terms on the shared encoder equal the release's recipe
    computed directly: torchvision's VGG19 layers with the Caffe weights, input (x+1)/2·255 in
    BGR minus the mean pixel, L2 normalisation over H·W, i/5-weighted L1s and Gram L1s."""
    import torchvision

    from stylestudy.generator.translation.losses import TAPS, PerceptualLoss, load_vgg
    from stylestudy.generator.vgg import CAFFE_MEAN_BGR
    from stylestudy.generator.weights import load_state_dict

    state, _ = load_state_dict("vgg19-caffe-q8", allow_random=True)
    if state is None:
        pytest.fail("needs the vgg19-caffe-q8 weights (stylestudy weights fetch vgg19-caffe-q8)")
    vgg = torchvision.models.vgg19(weights=None).features.eval()
    vgg.load_state_dict({k.removeprefix("features."): v.float() for k, v in state.items()})
    ends = {"relu1_1": 1, "relu2_1": 6, "relu3_1": 11, "relu4_1": 20, "relu5_1": 29}
    mean = torch.tensor(CAFFE_MEAN_BGR).view(1, 3, 1, 1)

    def feats(x):
        h, out = (x + 1) / 2 * 255, []
        h = h[:, [2, 1, 0]] - mean
        for i, layer in enumerate(vgg[:30]):
            h = layer(h)
            if i in ends.values():
                f = h.flatten(2)
                out.append((f / f.norm(dim=2, keepdim=True).clamp_min(1e-12)).view_as(h))
        return out

    def g(f):
        m = f.flatten(2)
        return m @ m.transpose(1, 2) / m.shape[2]

    gen = torch.Generator().manual_seed(1)
    xa, xb, x_ab, x_ba = (torch.rand(2, 3, 32, 32, generator=gen) * 2 - 1 for _ in range(4))
    fa, fb, fab, fba = feats(xa), feats(xb), feats(x_ab), feats(x_ba)
    content = sum((i + 1) / 5 * ((fab[i] - fa[i]).abs().mean() + (fba[i] - fb[i]).abs().mean())
                  for i in range(5))
    style = sum((g(fab[i]) - g(fb[i])).abs().mean() + (g(fba[i]) - g(fa[i])).abs().mean()
                for i in range(5))
    enc, record = load_vgg(TAPS, allow_random=False)
    c, s = PerceptualLoss(enc)(xa, xb, x_ab, x_ba)
    assert record["calibrated"]
    assert c.item() == pytest.approx(content.item(), rel=1e-5)
    assert s.item() == pytest.approx(style.item(), rel=1e-5)
