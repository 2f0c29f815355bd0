"""Editor tools in chromium on a two-tone content: the fill tolerance follows the image,
undo/redo of a fill, mask opacity and the M key, a stale second tab refused."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image

from stylestudy.study_server.guide.views import create_local_app, local_url
from tests.e2e.e2e_helpers import CHROMIUM
from tests.guide.test_guide_server import serving

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not shutil.which(CHROMIUM), reason="needs Debian chromium")]

#: painted (opaque) mask pixels per column half of the content
PAINTED = """() => {
  const c = document.querySelector('.panel[data-side="content"] canvas.mask');
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let left = 0, right = 0;
  for (let i = 0; i < c.width * c.height; i++) {
    if (d[i * 4 + 3]) { if (i % c.width < c.width / 2) left++; else right++; }
  }
  return [left, right];
}"""


@pytest.fixture
def page(home, tmp_path, browser):
    content = np.zeros((40, 80, 3), np.uint8)
    content[:, 40:] = 200
    Image.fromarray(content).save(tmp_path / "c.png")
    Image.fromarray(np.full((120, 120, 3), 90, np.uint8)).save(tmp_path / "s.png")
    (tmp_path / "set.yaml").write_text("name: t\ncontents: [c.png]\nstyles: [s.png]\n"
                                       "methods: [strotss]\n")
    app = create_local_app(tmp_path / "set.yaml")
    with serving(app) as port:
        url = local_url(app, port)
        p = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
        p.goto(url)
        p.wait_for_selector("body[data-ready='1']")
        yield p, url


def test_fill_tolerance_undo_and_opacity(page):
    p, _ = page
    box = p.locator('.panel[data-side="content"] canvas.overlay').bounding_box()
    left = (box["x"] + box["width"] * 0.2, box["y"] + box["height"] / 2)
    p.keyboard.press("f")
    p.fill("#tolerance", "30")  # the fill stops at the image's edge
    p.mouse.click(*left)
    assert p.evaluate(PAINTED) == [40 * 40, 0]
    p.keyboard.press("Control+z")
    assert p.evaluate(PAINTED) == [0, 0]
    p.keyboard.press("Control+y")
    assert p.evaluate(PAINTED) == [40 * 40, 0]
    p.fill("#tolerance", "0")  # the mask only: the unpainted right half
    p.keyboard.press("2")
    p.mouse.click(box["x"] + box["width"] * 0.8, box["y"] + box["height"] / 2)
    assert p.evaluate(PAINTED) == [40 * 40, 40 * 40]
    opacity = "getComputedStyle(document.querySelector('canvas.mask')).opacity"
    p.fill("#opacity", "30")
    assert p.evaluate(opacity) == "0.3"
    p.keyboard.press("m")
    assert p.evaluate(opacity) == "0"
    p.keyboard.press("m")
    assert p.evaluate(opacity) == "0.3"


def test_a_second_tab_cannot_save_over_the_first(page, browser):
    p, url = page
    assert browser.new_page().goto(url).status == 403  # the link is spent
    other = p.context.new_page()  # the same signed-in browser, a second tab
    other.goto(p.url)
    other.wait_for_selector("body[data-ready='1']")
    p.keyboard.press("p")
    box = p.locator('.panel[data-side="content"] canvas.overlay').bounding_box()
    sbox = p.locator('.panel[data-side="style"] canvas.overlay').bounding_box()
    p.mouse.click(box["x"] + 10, box["y"] + 10)
    p.mouse.click(sbox["x"] + 10, sbox["y"] + 10)
    p.click("#save")
    p.wait_for_selector("#message:text-matches('saved to set.yaml')")
    other.click("#save")
    other.wait_for_selector("#message.error:text-matches('changed on disk')")
