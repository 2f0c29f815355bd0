"""Reference generators and the SSIM protocol on MNIST-Single (docs/results-digits.md, "Setup")."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from stylestudy.generator.method import Request, get
from stylestudy.generator.translation import evaluate as ev
from stylestudy.generator.translation.reference import colour_oracle, two_colours


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
    # a flat image of the exemplar's background (no digit) already scores about 0.5 on A→B:
    # the bar a trained translator has to pass before its SSIM says anything about shapes
    flat = scores["exemplar-background"]
    assert flat.ab_mean > scores["identity"].ab_mean and flat.ab_mean > 0.45
    assert flat.ab_mean > scores["copy-exemplar"].ab_mean
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
    assert order == [7, 0, 4]
    # the paper's UNIT row is EGSC-IT's UNIT network; UNIT as published follows it
    assert ev.paper_label("unit", "none", "egsc-it") == "UNIT"
    assert ev.paper_order("unit", "none", "nips2017") == 2
    assert ev.paper_order("unit", "none") == 2  # checkpoints from before variants


def test_diversity_of_the_reference_generators(single28):
    """Identity ignores the exemplar (0); copy-exemplar's diversity is the exemplars' own; the
    oracle varies only the colours, so it lies between them."""
    from stylestudy.generator.weights import WeightsMissing, load_state_dict

    try:
        load_state_dict("alexnet")
    except WeightsMissing as exc:
        pytest.fail(f"needs verified alexnet weights (stylestudy weights fetch alexnet): {exc}")
    from stylestudy.analysis.diversity import mean_pairwise
    from stylestudy.analysis.lpips import LPIPS

    pairwise = functools.partial(mean_pairwise, LPIPS("alex"))
    div = {name: ev.diversity_scores(ev.reference_generator(fn), single28, pairwise, sources=6,
                                     exemplars=3)
           for name, fn in ev.REFERENCES.items()}
    assert div["identity"]["ab_diversity"] == 0.0 and div["identity"]["ba_diversity"] == 0.0
    for d in ("ab", "ba"):
        assert 0 < div["colour-oracle"][f"{d}_diversity"] < div["copy-exemplar"][f"{d}_diversity"]
    assert div["copy-exemplar"]["diversity_sources"] == 6


def _score(name, ab, ba):
    ab, ba = np.asarray(ab, float), np.asarray(ba, float)
    return ev.Score(name=name, n=len(ab), ab_mean=ab.mean(), ab_std=ab.std(), ba_mean=ba.mean(),
                    ba_std=ba.std(), ab_vs_exemplar=0.0, ba_vs_exemplar=0.0, resolution=28,
                    data="mnist-single", details={}, per_pair={"ab": ab, "ba": ba})


def test_paper_orderings_on_paired_differences():
    top = _score("EGSC-IT", [0.5, 0.6, 0.7, 0.8], [0.2, 0.2, 0.2, 0.2])
    rows = ev.paired_orderings([
        top, _score("CycleGAN", [0.1, 0.2, 0.3, 0.4], [0.3, 0.4, 0.3, 0.4]),
        _score("MUNIT", [0.6, 0.5, 0.8, 0.7], [0.2, 0.2, 0.2, 0.2]),
        _score("identity", [0.0] * 4, [0.0] * 4)])
    got = {(r["ordering"], r["direction"]): r for r in rows}
    assert set(got) == {("EGSC-IT > CycleGAN", "A→B"), ("EGSC-IT > CycleGAN", "B→A"),
                        ("EGSC-IT > MUNIT", "A→B"), ("EGSC-IT > MUNIT", "B→A")}
    assert got["EGSC-IT > CycleGAN", "A→B"]["verdict"] == "holds"  # +0.4 on every pair
    # differences −0.1, −0.2, −0.1, −0.2: mean −0.15, sd 0.0577, t(0.975, 3) = 3.1824
    r = got["EGSC-IT > CycleGAN", "B→A"]
    half = 3.182446 * np.std([-0.1, -0.2, -0.1, -0.2], ddof=1) / 2
    assert r["difference"] == pytest.approx(-0.15)
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((-0.15 - half, -0.15 + half))
    assert r["verdict"] == "reversed"
    assert got["EGSC-IT > MUNIT", "A→B"]["verdict"] == "not separated"  # ±0.1, mean 0
    assert "| EGSC-IT > MUNIT | A→B | +0.000" in ev.orderings_markdown(rows)
    assert ev.paired_orderings([_score("MUNIT", [0.1], [0.1])]) == []  # no EGSC-IT row


def test_a_model_against_the_trivial_references():
    """A flat background beats a model that has not learned the digit: the table says so."""
    model = _score("MUNIT", [0.50, 0.52, 0.48], [0.30, 0.31, 0.29])
    flat = _score("exemplar-background", [0.55, 0.56, 0.54], [0.20, 0.21, 0.19])
    rows = ev.paired_orderings([model, flat, _score("identity", [0.1] * 3, [0.1] * 3)],
                              top="MUNIT", below=ev.TRIVIAL)
    got = {(r["ordering"], r["direction"]): r["verdict"] for r in rows}
    assert got == {("MUNIT > identity", "A→B"): "holds", ("MUNIT > identity", "B→A"): "holds",
                   ("MUNIT > exemplar-background", "A→B"): "reversed",
                   ("MUNIT > exemplar-background", "B→A"): "holds"}
    table = ev.orderings_markdown(rows, header="ordering")
    assert table.startswith("| ordering |") and "| MUNIT > exemplar-background | A→B | -0.050" \
        in table
