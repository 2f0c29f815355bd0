"""Fixtures of the guide editor tests: chromium, and the generator tests' verified weights
(STROTSS needs VGG16)."""

import pytest

from tests.e2e.e2e_helpers import CHROMIUM, CHROMIUM_ARGS
from tests.generator.conftest import use_weights, weights_dir  # noqa: F401


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()
