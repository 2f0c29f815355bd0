"""Weights fixtures: the verified weights folder that CI fills with `stylestudy weights fetch`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

#: names the Makefile fetches before the tests
FETCHED = ("vgg16", "alexnet", "vgg19-caffe-q8", "magenta-predict", "magenta-transform")


@pytest.fixture(scope="session")
def weights_dir() -> Path:
    """``STYLESTUDY_WEIGHTS_DIR`` (or the repository's ``.cache/weights``), fully fetched."""
    env = os.environ.get("STYLESTUDY_WEIGHTS_DIR")
    path = Path(env) if env else Path(__file__).resolve().parents[2] / ".cache" / "weights"
    from stylestudy.generator.weights import REGISTRY

    missing = [n for n in FETCHED
               if not (path / REGISTRY[n].stored).is_file()]
    if missing:
        pytest.fail(f"weights {', '.join(missing)} missing in {path}: run "
                    f"`STYLESTUDY_WEIGHTS_DIR={path} stylestudy weights fetch {' '.join(FETCHED)}`")
    return path


@pytest.fixture
def use_weights(weights_dir, monkeypatch) -> Path:
    """Point ``STYLESTUDY_WEIGHTS_DIR`` at the fetched weights for one test."""
    monkeypatch.setenv("STYLESTUDY_WEIGHTS_DIR", str(weights_dir))
    return weights_dir
