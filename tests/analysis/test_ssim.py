"""SSIM (wang04) against reference vectors P1–P7 and skimage's Wang-compatible call."""

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from stylestudy.analysis.ssim import SSIM, gaussian_window, rgb_to_y, ssim

# Wang et al.'s ssim_index.m on P1–P7 (docs/analysis.md, "Reference values")
WANG04 = {"P1": 1.0, "P2": 0.9668544496, "P3": 0.3430118616, "P4": 0.9867516239,
          "P5": 0.9743486142, "P6": 0.9836109250, "P7": 0.1473004727}


def _u8(x):
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def _box(img, k):
    """k×k box blur, edge-replicated, same size."""
    r = k // 2
    p = np.pad(img.astype(np.float64), ((r, r), (r, r)) + ((0, 0),) * (img.ndim - 2), "edge")
    return sum(p[dy:dy + img.shape[0], dx:dx + img.shape[1]]
               for dy in range(k) for dx in range(k)) / (k * k)


def _vectors():
    """P1–P7: noise, gradients, a sinusoid blurred or rescaled, flat patches, an RGB blur."""
    u = np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)
    yy, xx = np.mgrid[0:64, 0:64].astype(np.float64)
    t = _u8(127.5 + 100 * np.sin(xx / 3) * np.cos(yy / 5))
    rgb = np.random.default_rng(2).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    return [
        ("P1", None, u, u.copy()),
        ("P2", None, u, _u8(u + np.random.default_rng(1).normal(0, 20, (64, 64)))),
        ("P3", None, _u8(xx * 255 / 63), _u8(yy * 255 / 63)),
        ("P4", None, t, _u8(_box(t, 5))),
        ("P5", None, t, _u8(0.8 * t.astype(np.float64) + 20)),
        ("P6", None, np.full((32, 32), 100, np.uint8), np.full((32, 32), 120, np.uint8)),
        ("P7", None, rgb, np.stack([_u8(_box(rgb[..., c], 3)) for c in range(3)], -1)),
    ]


PAIRS = _vectors()


def _t(a, dtype):
    t = torch.from_numpy(a.astype(np.float64)).to(dtype)
    return t.permute(2, 0, 1) if a.ndim == 3 else t


def _skimage(a, b, dtype):
    kw = dict(data_range=255.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
    if a.ndim == 3:
        kw["channel_axis"] = -1
    return structural_similarity(a.astype(dtype), b.astype(dtype), **kw)


@pytest.mark.parametrize("pid,a,b", [(p[0], p[2], p[3]) for p in PAIRS])
def test_reference_vectors_float64(pid, a, b):
    colour = "rgb" if a.ndim == 3 else "gray"
    got = ssim(_t(a, torch.float64), _t(b, torch.float64), 255.0, colour).item()
    assert got == pytest.approx(WANG04[pid], abs=1e-9)
    assert got == pytest.approx(_skimage(a, b, np.float64), abs=1e-6)


@pytest.mark.parametrize("pid,a,b", [(p[0], p[2], p[3]) for p in PAIRS])
def test_reference_vectors_float32(pid, a, b):
    colour = "rgb" if a.ndim == 3 else "gray"
    got = ssim(_t(a, torch.float32), _t(b, torch.float32), 255.0, colour).item()
    assert got == pytest.approx(_skimage(a, b, np.float32), abs=1e-4)
    assert got == pytest.approx(WANG04[pid], abs=1e-4)


def test_constant_images_analytic():
    c1 = (0.01 * 255) ** 2
    a = torch.full((32, 32), 100.0, dtype=torch.float64)
    got = ssim(a, a + 20, 255.0, "gray").item()
    assert got == pytest.approx((2 * 100 * 120 + c1) / (100 ** 2 + 120 ** 2 + c1), abs=1e-12)


def test_window_is_fspecial():
    g = gaussian_window()
    w = torch.outer(g, g)
    assert w.sum().item() == pytest.approx(1.0)
    # centre of fspecial('gaussian', 11, 1.5): 1 / (Σ_k exp(−k²/4.5))², k = −5…5
    norm = sum(np.exp(-k * k / 4.5) for k in range(-5, 6))
    assert w[5, 5].item() == pytest.approx(1 / norm ** 2, abs=1e-15)


def test_luminance_and_batching():
    rng = np.random.default_rng(5)
    a = rng.integers(0, 256, (3, 3, 40, 48)).astype(np.float64)
    b = np.clip(a + rng.normal(0, 25, a.shape), 0, 255)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    y = ssim(ta, tb, 255.0, "y")
    ya = 0.299 * a[:, 0] + 0.587 * a[:, 1] + 0.114 * a[:, 2]
    yb = 0.299 * b[:, 0] + 0.587 * b[:, 1] + 0.114 * b[:, 2]
    for i in range(3):
        assert y[i].item() == pytest.approx(structural_similarity(
            ya[i], yb[i], data_range=255.0, gaussian_weights=True, sigma=1.5,
            use_sample_covariance=False), abs=1e-9)
    assert torch.allclose(rgb_to_y(ta)[:, 0], torch.from_numpy(ya))
    assert torch.allclose(SSIM(colour="rgb")(ta, tb), ssim(ta, tb, 255.0, "rgb"))


def test_grouped_convolution_path_matches():
    """The non-CPU path (one grouped convolution) computes the same numbers."""
    from stylestudy.analysis.ssim import _ssim_batched

    _, _, a, b = PAIRS[6]
    x, y = _t(a, torch.float64)[None], _t(b, torch.float64)[None]
    got = _ssim_batched(x, y, gaussian_window(), (0.01 * 255) ** 2, (0.03 * 255) ** 2).mean()
    assert got.item() == pytest.approx(WANG04["P7"], abs=1e-9)


def test_downsampled_variant():
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (768, 768)).astype(np.float64)
    b = np.clip(a + rng.normal(0, 30, a.shape), 0, 255)
    f = 3  # round(768 / 256)
    da = a.reshape(256, f, 256, f).mean(axis=(1, 3))
    db = b.reshape(256, f, 256, f).mean(axis=(1, 3))
    got = ssim(torch.from_numpy(a), torch.from_numpy(b), 255.0, "gray", downsample=True)
    assert got.item() == pytest.approx(_skimage(da, db, np.float64), abs=1e-9)


@pytest.mark.parametrize("kw,msg", [(dict(colour="hsv"), "colour"),
                                    (dict(colour="gray"), "single-channel")])
def test_bad_arguments(kw, msg):
    x = torch.zeros(1, 3, 16, 16)
    with pytest.raises(ValueError, match=msg):
        ssim(x, x, 1.0, **kw)
    with pytest.raises(ValueError, match="at least 11"):
        ssim(torch.zeros(8, 8), torch.zeros(8, 8), 1.0, "gray")
