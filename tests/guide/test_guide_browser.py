"""A real chromium paints two regions on each image, places point pairs, previews and saves;
`stylestudy generate` then follows the guidance (each content region takes its paired style
region's colour)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image
from sqlalchemy import select

from stylestudy.db.assets import load_pixels
from stylestudy.db.engine import session_scope
from stylestudy.db.models import ComparisonSet
from stylestudy.generator import manifest, runner
from tests.e2e.e2e_helpers import CHROMIUM
from tests.guide.guide_helpers import make_project

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(not shutil.which(CHROMIUM), reason="needs Debian chromium")]

RED, BLUE = (255, 0, 0), (0, 0, 255)
#: the committed screenshot in docs/methods-strotss.md; rewritten when this is set to 1
SCREENSHOT_ENV = "STYLESTUDY_UPDATE_SCREENSHOTS"
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "img" / "guide-editor.png"


@pytest.fixture
def editor(home, use_weights, tmp_path):
    """`stylestudy guide` on the project (fast previews); yields (page URL, manifest path)."""
    path = make_project(tmp_path / "project")
    proc = subprocess.Popen(
        [sys.executable, "-m", "stylestudy.cli", "guide", str(path), "--no-browser",
         "--preview-size", "64", "--preview-iterations", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "STYLESTUDY_HOME": home}, start_new_session=True)
    try:
        line = proc.stdout.readline()
        found = re.search(r"http://127\.0\.0\.1:\d+/\?token=\S+", line)
        assert found, line + proc.stdout.read() if proc.poll() is not None else line
        yield found.group(0), path
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _box(page, side: str) -> dict:
    return page.locator(f'.panel[data-side="{side}"] canvas.overlay').bounding_box()


def _at(box: dict, size: tuple[int, int], r: float, c: float) -> tuple[float, float]:
    """Page coordinates of image pixel (r, c)'s centre on a panel of an h×w image."""
    h, w = size
    return box["x"] + (c + 0.5) * box["width"] / w, box["y"] + (r + 0.5) * box["height"] / h


def _drag(page, points: list[tuple[float, float]]) -> None:
    page.mouse.move(*points[0])
    page.mouse.down()
    for p in points[1:]:
        page.mouse.move(*p, steps=8)
    page.mouse.up()


def test_paint_points_preview_save_generate(editor, browser):
    url, path = editor
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']")
    assert page.url.endswith("/") and "token" not in page.url  # the token is spent
    c_size, s_size = (170, 256), (200, 200)
    cb, sb = _box(page, "content"), _box(page, "style")
    assert cb["width"] >= 450 and sb["height"] >= 450  # usable at 1280×800
    assert cb["x"] + cb["width"] <= sb["x"] and sb["x"] + sb["width"] <= 1280

    # content: a red stroke down the middle, fill the left red and the right blue
    page.keyboard.press("b")
    page.keyboard.press("1")
    for _ in range(3):
        page.keyboard.press("[")
    _drag(page, [_at(cb, c_size, r, 128) for r in (0, 60, 120, 175)])
    page.keyboard.press("f")
    page.mouse.click(*_at(cb, c_size, 85, 40))
    page.keyboard.press("2")
    page.mouse.click(*_at(cb, c_size, 85, 220))
    # style: a blue stroke across the middle, fill the top blue and the bottom red
    page.keyboard.press("b")
    _drag(page, [_at(sb, s_size, 100, c) for c in (0, 60, 140, 205)])
    page.keyboard.press("f")
    page.mouse.click(*_at(sb, s_size, 40, 100))
    page.keyboard.press("1")
    page.mouse.click(*_at(sb, s_size, 160, 100))
    # a stray eraser stroke, undone and redone and undone again
    page.keyboard.press("e")
    _drag(page, [_at(sb, s_size, 20, 20), _at(sb, s_size, 30, 60)])
    assert page.evaluate("document.getElementById('undo').disabled") is False
    page.keyboard.press("Control+z")
    page.keyboard.press("Control+Shift+z")
    page.keyboard.press("Control+z")

    # points: two pairs; a third placed then deleted; the second dragged to a new place
    page.keyboard.press("p")
    pairs = [((40, 60), (150, 50)), ((120, 200), (50, 160))]
    for (cr, cc), (sr, sc) in pairs + [((10, 10), (10, 10))]:
        page.mouse.click(*_at(cb, c_size, cr, cc))
        page.mouse.click(*_at(sb, s_size, sr, sc))
    page.keyboard.press("Delete")
    _drag(page, [_at(sb, s_size, 50, 160), _at(sb, s_size, 45, 170)])
    pairs[1] = ((120, 200), (45, 170))
    page.fill("#opacity", "40")  # a range input: masks over the images at 40 %

    # preview with the guidance on screen (not yet saved)
    page.click("#preview-btn")
    page.wait_for_selector("#preview-img:not([hidden])", timeout=120_000)
    natural = page.evaluate("[document.getElementById('preview-img').naturalWidth,"
                            " document.getElementById('preview-img').naturalHeight]")
    assert max(natural) == 64 and natural[0] > natural[1]
    with session_scope() as s:
        names = s.scalars(select(ComparisonSet.name)).all()
    assert len(names) == 1 and names[0].startswith("guide-preview ")  # not the researcher's

    page.keyboard.press("Control+s")
    page.wait_for_selector("#message:text-matches('saved to set.yaml')")
    if os.environ.get(SCREENSHOT_ENV) == "1":
        page.screenshot(path=str(SCREENSHOT))
    else:
        page.screenshot(path=str(path.parent / "guide-editor.png"))
    assert errors == []

    # the guide files: exact colours at the images' sizes, the manifest entry, comments kept
    text = path.read_text()
    assert text.startswith("# A guided set (the guide editor keeps this comment)\n")
    assert "params: {iterations: 4, content_weight: 0.0}   # small and style-led" in text
    entry = yaml.safe_load(text)["guides"][0]
    assert entry["points"] == [[r, c, sr, sc] for (r, c), (sr, sc) in pairs]
    cg = np.asarray(Image.open(path.parent / entry["content_regions"]))
    sg = np.asarray(Image.open(path.parent / entry["style_regions"]))
    assert cg.shape == (170, 256, 3) and sg.shape == (200, 200, 3)
    for guide in (cg, sg):
        assert {tuple(v) for v in guide.reshape(-1, 3).tolist()} == {RED, BLUE}
    assert (cg[:, :120] == RED).all() and (cg[:, 136:] == BLUE).all()
    assert (sg[:92] == BLUE).all() and (sg[108:] == RED).all()
    spec = manifest.load(path)
    assert spec.points[spec.pairs[0]] == [[float(v) for v in row] for row in entry["points"]]

    # stylestudy generate follows the guidance
    subprocess.run([sys.executable, "-m", "stylestudy.cli", "generate", str(path),
                    "--no-progress"], check=True, env=os.environ.copy(), capture_output=True)
    with session_scope() as s:
        gen = runner.set_generations("guided", s)[0]
        assert gen.status == "done" and gen.provenance["strotss"]["regions"] == 2
        assert gen.provenance["strotss"]["points"] == 2
        out = load_pixels(gen.output).astype(float)
    style = np.asarray(Image.open(path.parent / "two-tone.png")).astype(float)
    red_mean = style[(sg == RED).all(-1)].mean(0)
    blue_mean = style[(sg == BLUE).all(-1)].mean(0)
    h, w = out.shape[:2]
    small = np.asarray(Image.fromarray(cg).resize((w, h), Image.NEAREST))
    for colour, own, other in ((RED, red_mean, blue_mean), (BLUE, blue_mean, red_mean)):
        mean = out[(small == colour).all(-1)].mean(0)
        assert np.linalg.norm(mean - own) < np.linalg.norm(mean - other), (colour, mean)
