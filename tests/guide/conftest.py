"""Fixtures of the guide editor tests: chromium, and the generator tests' verified weights
(STROTSS needs VGG16)."""

import pytest

from tests.e2e.e2e_helpers import chromium
from tests.generator.conftest import use_weights, weights_dir  # noqa: F401


@pytest.fixture
def browser():
    with chromium() as b:
        yield b
