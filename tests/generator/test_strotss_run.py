"""STROTSS end to end on tiny inputs: determinism, region and point guidance, the method."""

from __future__ import annotations

import numpy as np
import pytest

from stylestudy.errors import UserError
from stylestudy.generator.method import Request, RunContext, get
from stylestudy.generator.strotss import Config, Hypercolumn, stylize
from stylestudy.generator.strotss.guidance import augment_points, extract_regions


@pytest.fixture(scope="module")
def hyper(weights_dir):
    from stylestudy.generator.vgg import vgg_features

    feats, _ = vgg_features("vgg16", weights_dir=str(weights_dir))
    return Hypercolumn(feats)


def _images(seed=0):
    rng = np.random.default_rng(seed)
    content = np.clip(0.5 + 0.1 * rng.standard_normal((48, 64, 3)), 0, 1).astype(np.float32)
    style = np.zeros((150, 150, 3), np.float32)
    style[:75, :, 0] = 0.9  # top: red
    style[75:, :, 2] = 0.9  # bottom: blue
    style = np.clip(style + 0.1 * rng.standard_normal(style.shape), 0, 1).astype(np.float32)
    return content, style


@pytest.mark.slow
def test_same_seed_same_bytes_on_cpu(hyper):
    content, style = _images()
    cfg = Config(size=64, iterations=3)
    a, info = stylize(content, style, hyper, cfg, seed=5)
    b, _ = stylize(content, style, hyper, cfg, seed=5)
    c, _ = stylize(content, style, hyper, cfg, seed=6)
    assert a.shape == (48, 64, 3) and a.dtype == np.float32
    assert a.tobytes() == b.tobytes()
    assert a.tobytes() != c.tobytes()
    assert info.scales[0]["lr"] == 1e-3 and info.scales[0]["alpha"] == 16.0


@pytest.mark.slow
def test_regions_steer_each_half_to_its_style_region(hyper):
    """Content left ↔ style top (red), content right ↔ style bottom (blue)."""
    content, style = _images()
    cg = np.zeros((48, 64, 3), np.uint8)
    cg[:, :32] = (255, 0, 0)
    cg[:, 32:] = (0, 0, 255)
    sg = np.zeros((150, 150, 3), np.uint8)
    sg[:75] = (255, 0, 0)
    sg[75:] = (0, 0, 255)
    regions = extract_regions(cg, sg)
    assert len(regions) == 2
    out, _ = stylize(content, style, hyper, Config(size=64, iterations=8), seed=0,
                     regions=regions)
    red_minus_blue = out[..., 0] - out[..., 2]
    left, right = red_minus_blue[:, :24].mean(), red_minus_blue[:, 40:].mean()
    assert left > 0.02 and right < -0.02


def test_extract_regions_threshold_and_exact_colours():
    sg = np.zeros((120, 120, 3), np.uint8)  # 14400 px
    sg[:10] = (0, 255, 0)  # 1200 px: below the 10000-pixel threshold, not a region
    cg = np.zeros((20, 20, 3), np.uint8)
    cg[:, :5] = (0, 255, 0)
    regions = extract_regions(cg, sg)
    assert len(regions) == 1  # black only
    cmask, smask = regions[0]
    assert cmask[:, 5:].all() and not cmask[:, :5].any() and smask.sum() == 120 * 110
    with pytest.raises(UserError):
        extract_regions(cg, np.zeros((50, 50, 3), np.uint8))


def test_point_augmentation():
    """3×3 neighbourhood at int(0.01 · max side), clipped to [0, H], normalised."""
    pts = augment_points(np.array([[10, 20, 0, 300]]), (100, 200), (400, 300))
    assert pts.shape == (9, 4)
    # content step int(0.01·200) = 2; style step int(0.01·400) = 4
    assert pts[0].tolist() == pytest.approx([8 / 100, 18 / 200, 0.0, 296 / 300])
    assert pts[8].tolist() == pytest.approx([12 / 100, 22 / 200, 4 / 400, 300 / 300])


@pytest.mark.slow
def test_point_guidance_pulls_the_point_towards_its_style_point(hyper):
    """Content (24, 10) ← style (130, 75), in the blue half: that spot turns bluer, more than
    the image on average."""
    content, style = _images()
    cfg = Config(size=64, iterations=8)
    base, _ = stylize(content, style, hyper, cfg, seed=0)
    guided, _ = stylize(content, style, hyper, cfg, seed=0,
                        points=np.array([[24, 10, 130, 75]], float))

    def red_minus_blue(im):
        return im[..., 0] - im[..., 2]

    local = red_minus_blue(guided)[21:28, 7:14].mean() - red_minus_blue(base)[21:28, 7:14].mean()
    overall = red_minus_blue(guided).mean() - red_minus_blue(base).mean()
    assert local < -0.03 and local < 2 * overall


def test_method_registered_with_provenance(use_weights):
    cls = get("strotss")
    inst = cls(RunContext())
    inst.setup()
    assert inst.ctx.weights_used["vgg16"]["calibrated"] is True
    content, style = _images()
    params = cls.validate_params({"iterations": 2, "content_weight": 0.5})
    res = inst.generate(Request(content=content, style=style, seed=0, params=params, size=64))
    assert res.image.shape == (48, 64, 3) and res.image.dtype == np.uint8
    prov = res.provenance["strotss"]
    assert prov["variant"] == "official" and "reduced" in prov["setting"]
    assert prov["scales"][0]["alpha"] == 8.0
    with pytest.raises(UserError):
        cls.validate_params({"variant": "nope"})
    bad = cls.validate_params({"points": [[1, 2, 3]]})
    with pytest.raises(UserError, match="points"):
        inst.run(Request(content=content, style=style, seed=0, params=bad, size=64))
    both = cls.validate_params({"preset": "quick", "iterations": 5})
    with pytest.raises(UserError, match="preset"):
        inst.run(Request(content=content, style=style, seed=0, params=both, size=64))
    paper0 = cls.validate_params({"variant": "paper", "content_weight": 0.0})
    with pytest.raises(UserError, match="content_weight"):
        inst.run(Request(content=content, style=style, seed=0, params=paper0, size=64))
