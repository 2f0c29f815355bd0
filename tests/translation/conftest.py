"""Fixtures: MNIST-Single built once per session (28 px) in a temporary folder."""

from __future__ import annotations

import pytest

from stylestudy.generator.datasets import build_single, save_digit_set


@pytest.fixture(scope="session")
def single28():
    return build_single(0, 28)


@pytest.fixture(scope="session")
def single28_dir(tmp_path_factory, single28):
    return save_digit_set(single28, tmp_path_factory.mktemp("digits") / "single28", pngs=False)
