"""Catch cells are built only from pairs that can be answered (study_server/study/catch.py)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from PIL import Image
from skimage.color import deltaE_cie76, rgb2lab
from study_helpers import catch_cells, spec

from stylestudy.cli import cli
from stylestudy.db.assets import store_pixels
from stylestudy.db.engine import session_scope
from stylestudy.db.models import (
    ComparisonSet,
    ComparisonSetMember,
    Generation,
    Method,
)
from stylestudy.study_server.study.catch import MIN_DELTA_E, check_catch, mean_delta_e, srgb_to_lab
from stylestudy.study_server.study.studies import create_study, design_summary

RNG = np.random.default_rng(1)


def test_lab_reference_values():
    # sRGB red, white, black and mid grey in CIELAB (D65): published conversions
    lab = srgb_to_lab(np.array([[255, 0, 0], [255, 255, 255], [0, 0, 0], [128, 128, 128]]))
    assert lab == pytest.approx(np.array([[53.2408, 80.0925, 67.2032], [100, 0, 0], [0, 0, 0],
                                          [53.5850, 0, 0]]), abs=2e-3)
    black, white = np.zeros((2, 3, 3), np.uint8), np.full((2, 3, 3), 255, np.uint8)
    assert mean_delta_e(black, white) == pytest.approx(100.0, abs=1e-4)
    noise = RNG.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    other = RNG.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    # the same as scikit-image's CIE76 on its own sRGB → Lab conversion
    expected = deltaE_cie76(rgb2lab(noise), rgb2lab(other)).mean()
    assert mean_delta_e(noise, other) == pytest.approx(expected, rel=1e-3)


# four contents (random patterns) and two styles (a palette each), as a style transfer
# and its controls would render them
CONTENTS = [RNG.integers(0, 256, (24, 32, 3), dtype=np.uint8) for _ in range(3)]
STYLES = [(0.5 * RNG.integers(0, 256, (40, 20, 3)) + 0.5 * np.array(tint)).astype(np.uint8)
          for tint in ((220, 60, 50), (50, 90, 220))]


def transfer(content, style):
    return np.clip(0.55 * content + 0.45 * style.reshape(-1, 3).mean(0), 0, 255).astype(np.uint8)


def content_copy(content, style):
    return content


def style_copy(content, style):
    """The style image scaled to cover the content's size and centre-cropped."""
    h, w = content.shape[:2]
    scale = max(h / style.shape[0], w / style.shape[1])
    big = resized(style, round(style.shape[1] * scale), round(style.shape[0] * scale))
    top, left = (big.shape[0] - h) // 2, (big.shape[1] - w) // 2
    return big[top:top + h, left:left + w]


def resized(px, w, h):
    return np.asarray(Image.fromarray(px).resize((w, h), Image.Resampling.LANCZOS))


def colour_only(content, style):
    """A 'method' that ignores the content: the style's mean colour, flat."""
    return np.broadcast_to(style.reshape(-1, 3).mean(0).astype(np.uint8), content.shape).copy()


def test_check_catch():
    c0, c1 = CONTENTS[:2]
    s0, s1 = STYLES
    assert check_catch("content", transfer(c0, s0), transfer(c1, s0), c0).ok
    assert check_catch("style", transfer(c0, s0), transfer(c0, s1), s0).ok
    assert check_catch("content", c0, c1, c0).ok and check_catch("style", style_copy(c0, s0),
                                                                  style_copy(c0, s1), s0).ok
    same = check_catch("style", c0, c0, s0)  # content-copy in the style question
    assert (same.delta_e, same.ok) == (0.0, False)
    # style-copy in the content question: two different crops of one picture differ, but
    # neither shows the content
    crops = check_catch("content", resized(s0[:20], 32, 24), resized(s0[20:], 32, 24), c0)
    assert crops.delta_e >= MIN_DELTA_E and not crops.ok
    assert not check_catch("content", colour_only(c0, s0), colour_only(c1, s0), c0).ok


def comparison_set(engine, render: dict) -> None:
    """Set ``set1`` with each method's outputs rendered from every content × style."""
    with session_scope(engine, write=True) as s:
        cs = [store_pixels(s, px, "content") for px in CONTENTS]
        ss = [store_pixels(s, px, "style") for px in STYLES]
        cset = ComparisonSet(name="set1", manifest={})
        s.add(cset)
        for label, fn in render.items():
            m = Method(name=label, version="1", label=label, params={},
                       params_hash=hashlib.sha256(label.encode()).hexdigest())
            s.add(m)
            s.flush()
            for c, cpx in zip(cs, CONTENTS, strict=True):
                for st, spx in zip(ss, STYLES, strict=True):
                    noise = RNG.normal(0, 3, cpx.shape) if fn is transfer else 0
                    out = store_pixels(s, np.clip(fn(cpx, spx) + noise, 0, 255)
                                       .astype(np.uint8), "output")
                    g = Generation(method_id=m.id, content_asset_id=c.id, style_asset_id=st.id,
                                   inputs_key=f"{c.sha256[:16]}{st.sha256[:16]}", seed=0,
                                   status="done", output_asset_id=out.id, size=32)
                    s.add(g)
                    s.flush()
                    s.add(ComparisonSetMember(set_id=cset.id, generation_id=g.id))


def test_copies_make_no_catch_in_the_other_question(engine):
    """With both copy controls in a study, every item still gets a catch per question,
    none from a copy that ignores what the question asks about, and every catch's options
    differ visibly (scikit-image's ΔE*ab, as an outside check)."""
    comparison_set(engine, {"content-copy": content_copy, "style-copy": style_copy,
                            "transfer": transfer})
    study = create_study(spec(), engine)
    assert design_summary(study.id, engine)["content/catch"] == 6
    assert design_summary(study.id, engine)["style/catch"] == 6
    cells = catch_cells(engine)
    used = {(q, label) for q, label, *_ in cells}
    assert ("style", "content-copy") not in used and ("content", "style-copy") not in used
    for _, _, a, b, _ in cells:
        assert deltaE_cie76(rgb2lab(a), rgb2lab(b)).mean() >= MIN_DELTA_E


def test_a_question_without_an_answerable_catch_is_warned(engine, db_url, tmp_path,
                                                          monkeypatch):
    """Methods that all ignore the style give no style catch: `study create` says so."""
    monkeypatch.setenv("STYLESTUDY_DATABASE_URL", db_url)
    comparison_set(engine, {"content-copy": content_copy, "blur": lambda c, s: c // 2 + 64})
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(spec()))
    res = CliRunner().invoke(cli, ["study", "create", str(path)])
    assert res.exit_code == 0, res.output
    assert "style/catch" not in res.output and "content/catch: 6" in res.output
    assert res.stderr.strip().splitlines() == [
        "warning: the style question has no catch cells: no method's outputs give an "
        "answerable pair (docs/study-protocol.md, Catch trials), so it has no attention "
        "checks"]
    assert {q for q, *_ in catch_cells(engine)} == {"content"}
