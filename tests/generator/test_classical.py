"""Reinhard colour transfer and histogram matching against hand-computed and skimage values."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.exposure import match_histograms as skimage_match

from stylestudy.generator.methods.classical import (
    LAB2LOGLMS,
    LOGLMS2LAB,
    lab_to_rgb,
    match_histograms,
    reinhard_transfer,
    rgb_to_lab,
)


def test_lab_matrices_are_inverse():
    np.testing.assert_allclose(LAB2LOGLMS @ LOGLMS2LAB, np.eye(3), atol=1e-12)


def test_lab_of_grey_is_achromatic():
    """A grey pixel has L = M = S up to the paper's 4-digit matrix rows, so α ≈ β ≈ 0.

    Hand computation: RGB→LMS rows sum to 0.9996, 0.9993, 0.9973, so for grey g,
    α = (log L + log M − 2 log S)/√6 and β = (log L − log M)/√2 are tiny.
    """
    lab = rgb_to_lab(np.full((1, 1, 3), 0.5))[0, 0]
    L, M, S = np.log10(0.5 * np.array([0.9996, 0.9993, 0.9973]))
    np.testing.assert_allclose(lab, [(L + M + S) / np.sqrt(3), (L + M - 2 * S) / np.sqrt(6),
                                     (L - M) / np.sqrt(2)], atol=1e-12)
    assert abs(lab[1]) < 1e-3 and abs(lab[2]) < 1e-3


def test_reinhard_matches_style_statistics():
    """Without clipping, the output's lαβ mean and deviation equal the style's (eq. 10–11)."""
    rng = np.random.default_rng(0)
    content = 0.3 + 0.2 * rng.random((20, 30, 3))
    style = 0.4 + 0.1 * rng.random((15, 15, 3))
    out = reinhard_transfer(content, style)
    assert out.min() > 0.0 and out.max() < 1.0  # no clipping happened
    # out is clipped RGB; go back to lαβ through the paper's forward transform
    lab_out = rgb_to_lab(out).reshape(-1, 3)
    lab_style = rgb_to_lab(style).reshape(-1, 3)
    # the paper's 4-digit RGB↔LMS matrices are inverse only to ~1e-3, hence the tolerance
    np.testing.assert_allclose(lab_out.mean(0), lab_style.mean(0), atol=5e-3)
    np.testing.assert_allclose(lab_out.std(0), lab_style.std(0), rtol=3e-2)


def test_reinhard_constant_content_takes_style_mean():
    content = np.full((4, 4, 3), 0.5)
    style = np.random.default_rng(3).uniform(0.2, 0.8, (8, 8, 3))
    out = reinhard_transfer(content, style)
    np.testing.assert_allclose(rgb_to_lab(out)[0, 0], rgb_to_lab(style).reshape(-1, 3).mean(0),
                               atol=5e-3)
    assert np.ptp(out.reshape(-1, 3), axis=0).max() == 0


def test_lab_roundtrip_within_paper_matrix_precision():
    rgb = np.random.default_rng(1).uniform(0.05, 1.0, (50, 3))
    np.testing.assert_allclose(lab_to_rgb(rgb_to_lab(rgb)), rgb, atol=1e-2)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_histogram_matching_equals_skimage(seed):
    rng = np.random.default_rng(seed)
    content = rng.integers(0, 256, (31, 17, 3)).astype(np.float64) / 255
    style = rng.beta(2, 5, (23, 29, 3))
    np.testing.assert_allclose(match_histograms(content, style),
                               skimage_match(content, style, channel_axis=-1), atol=1e-12)


def test_histogram_matching_hand_case():
    """Content values 0,1,2,3 (one each) onto style values 10,20,30,40: quantiles map 1:1."""
    content = np.array([0.0, 1, 2, 3]).reshape(2, 2, 1)
    style = np.array([40.0, 10, 30, 20]).reshape(2, 2, 1)
    np.testing.assert_array_equal(match_histograms(content, style).ravel(), [10, 20, 30, 40])
