"""Reference generators and the SSIM protocol on MNIST-Single (spec egsc-it.md §3.1–3.2)."""

from __future__ import annotations

import numpy as np
import pytest

from generator.method import Request, get
from generator.translation import evaluate as ev
from generator.translation.reference import colour_oracle, two_colours


def test_colour_oracle_scores_one_over_1000_test_pairs(single28):
    score = ev.evaluate_generator("oracle", ev.reference_generator(colour_oracle), single28)
    assert score.n == 1000
    assert score.ab_mean == 1.0 and score.ba_mean == 1.0
    assert score.ab_std == 0.0 and score.ba_std == 0.0


def test_identity_and_copy_exemplar_rank_below_the_oracle(single28):
    scores = {name: ev.evaluate_generator(name, ev.reference_generator(fn), single28, n=300)
              for name, fn in ev.REFERENCES.items()}
    for name in ("identity", "copy-exemplar"):
        assert -1 < scores[name].ab_mean < 1 and -1 < scores[name].ba_mean < 1
        assert scores[name].ab_mean < scores["colour-oracle"].ab_mean
    # the released diagnostic rewards copying: copy-exemplar is perfect "vs exemplar"
    assert scores["copy-exemplar"].ab_vs_exemplar == 1.0
    assert scores["copy-exemplar"].ba_vs_exemplar == 1.0


def test_ssim_by_hand_for_a_flat_image():
    """SSIM of a constant image with itself is 1; against its complement (0 vs 255, no
    variance) it is the luminance term (2·0·255 + C1)/(0² + 255² + C1), C1 = (0.01·255)²."""
    zero = np.zeros((1, 8, 8, 3), np.uint8)
    assert ev.ssim_scores(zero, zero)[0] == 1.0
    c1 = (0.01 * 255) ** 2
    assert ev.ssim_scores(zero, zero + 255)[0] == pytest.approx(c1 / (255 ** 2 + c1))


def test_two_colours_of_a_domain_a_image_with_no_digit():
    white = np.full((28, 28, 3), 255, np.uint8)
    bg, fg = two_colours(white)
    assert bg.tolist() == [255, 255, 255] and fg.tolist() == [0, 0, 0]


def test_reference_methods_through_the_method_interface(single28):
    t = single28.arrays["test"]
    req = Request(content=t["A"][0] / 255.0, style=t["B"][0] / 255.0, seed=0, params={})
    out = get("colour-oracle")().generate(req).image
    np.testing.assert_array_equal(out, t["A2B"][0])
    np.testing.assert_array_equal(get("identity")().generate(req).image, t["A"][0])
    np.testing.assert_array_equal(get("copy-exemplar")().generate(req).image, t["B"][0])
    big = Request(content=req.content, style=req.style, seed=0, params={}, size=56)
    assert get("colour-oracle")().generate(big).image.shape == (56, 56, 3)


def test_paper_table_order_and_labels():
    assert ev.paper_label("egsc-it", "no-adain") == "EGSC-IT w/o AdaIN"
    order = [ev.paper_order(m, a) for m, a in
             [("egsc-it", "none"), ("cyclegan", "none"), ("egsc-it", "no-mask")]]
    assert order == [6, 0, 3]
