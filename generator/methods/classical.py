"""Classical colour transfer: Reinhard et al. 2001 (lαβ statistics) and histogram matching.

Reinhard, Ashikhmin, Gooch, Shirley, "Color Transfer between Images", IEEE CG&A 21(5), 2001.
Matrices are the paper's: RGB→LMS (its eq. 4, which combines the XYZ conversion with the
LMS cone space), LMS→RGB (eq. 9), and log-LMS ↔ lαβ (eqs. 6 and 8).
"""

from __future__ import annotations

import numpy as np

from stylestudy.generator.imageops import resize, to_float
from stylestudy.generator.method import Method, Request, register

__all__ = ["match_histograms", "reinhard_transfer", "rgb_to_lab", "lab_to_rgb"]

#: Reinhard et al. 2001, eq. 4
RGB2LMS = np.array([[0.3811, 0.5783, 0.0402],
                    [0.1967, 0.7244, 0.0782],
                    [0.0241, 0.1288, 0.8444]])
#: Reinhard et al. 2001, eq. 9
LMS2RGB = np.array([[4.4679, -3.5873, 0.1193],
                    [-1.2186, 2.3809, -0.1624],
                    [0.0497, -0.2439, 1.2045]])
#: eq. 6: lαβ = diag(1/√3, 1/√6, 1/√2) · [[1, 1, 1], [1, 1, −2], [1, −1, 0]] · log10 LMS
LOGLMS2LAB = np.diag([1 / np.sqrt(3), 1 / np.sqrt(6), 1 / np.sqrt(2)]) @ np.array(
    [[1.0, 1.0, 1.0], [1.0, 1.0, -2.0], [1.0, -1.0, 0.0]])
#: eq. 8: log10 LMS = [[1, 1, 1], [1, 1, −1], [1, −2, 0]] · diag(√3/3, √6/6, √2/2) · lαβ
LAB2LOGLMS = np.array([[1.0, 1.0, 1.0], [1.0, 1.0, -1.0], [1.0, -2.0, 0.0]]) @ np.diag(
    [np.sqrt(3) / 3, np.sqrt(6) / 6, np.sqrt(2) / 2])
#: LMS floor before the logarithm (black pixels); below the LMS of the darkest
#: non-zero 8-bit colour (0.0241/255 ≈ 9.5e-5 would be the smallest entry)
LMS_FLOOR = 1e-4


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """RGB in [0, 1] (…×3) → Reinhard lαβ (float64)."""
    lms = np.maximum(np.asarray(rgb, np.float64) @ RGB2LMS.T, LMS_FLOOR)
    return np.log10(lms) @ LOGLMS2LAB.T


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """Reinhard lαβ → RGB (unclipped, float64)."""
    return (10.0 ** (np.asarray(lab, np.float64) @ LAB2LOGLMS.T)) @ LMS2RGB.T


def reinhard_transfer(content: np.ndarray, style: np.ndarray) -> np.ndarray:
    """Give ``content`` the per-channel lαβ mean and deviation of ``style`` (eq. 10–11).

    Both inputs are float RGB in [0, 1]; the result is clipped to [0, 1].
    """
    src, tgt = rgb_to_lab(content), rgb_to_lab(style)
    mu_s, sd_s = src.reshape(-1, 3).mean(0), src.reshape(-1, 3).std(0)
    mu_t, sd_t = tgt.reshape(-1, 3).mean(0), tgt.reshape(-1, 3).std(0)
    # a flat source channel has no deviation to scale: keep it flat (avoid 0/0)
    scale = np.divide(sd_t, sd_s, out=np.ones(3), where=sd_s > 1e-12)
    return np.clip(lab_to_rgb((src - mu_s) * scale + mu_t), 0.0, 1.0)


def match_histograms(content: np.ndarray, style: np.ndarray) -> np.ndarray:
    """Per-channel histogram specification: each content value goes to the style value at
    the same empirical quantile (linear interpolation between distinct values)."""
    out = np.empty(content.shape, np.float64)
    for c in range(content.shape[-1]):
        src = content[..., c].ravel()
        s_vals, s_idx, s_counts = np.unique(src, return_inverse=True, return_counts=True)
        t_vals, t_counts = np.unique(style[..., c].ravel(), return_counts=True)
        s_q = np.cumsum(s_counts) / src.size
        t_q = np.cumsum(t_counts) / t_counts.sum()
        out[..., c] = np.interp(s_q, t_q, t_vals)[s_idx].reshape(content.shape[:-1])
    return out


@register
class Reinhard(Method):
    """Reinhard et al. 2001 global colour transfer in lαβ."""

    name = "reinhard"
    version = "1"
    kind = "classical"
    summary = "Reinhard et al. 2001 colour transfer in lαβ"

    def run(self, request: Request) -> np.ndarray:
        return reinhard_transfer(resize(to_float(request.content), request.output_shape),
                                 to_float(request.style))


@register
class HistogramMatch(Method):
    """Per-RGB-channel histogram matching of the content to the style."""

    name = "histogram-match"
    version = "1"
    kind = "classical"
    summary = "per-channel histogram matching (RGB)"

    def run(self, request: Request) -> np.ndarray:
        return match_histograms(to_float(resize(request.content, request.output_shape)),
                                to_float(request.style))
