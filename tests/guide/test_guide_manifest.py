"""Guide files and the manifest entry the editor writes: exact colours, the rest of the file
kept byte for byte, validation through the manifest loader, refusals that change nothing."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from stylestudy.errors import UserError
from stylestudy.generator import manifest
from stylestudy.generator.guide_manifest import (
    PALETTE,
    guide_image,
    labels_from_guide,
    pair_guidance,
    save_guidance,
    set_guide_entry,
)
from stylestudy.generator.strotss.guidance import extract_regions

REGIONS = {"content_regions": "g/c.png", "style_regions": "g/s.png"}
PTS = [[1, 2, 3, 4.5], [5, 6, 7, 8]]

README = """\
# set.yaml
name: my-set   # the set
size: 512
contents: [images/content]          # files or folders, relative to this file
styles:   [images/style]
methods:
  - name: strotss
    sweep: {content_weight: [0.5, 1.0, 2.0]}   # one condition per value
guides:                             # optional: STROTSS region guidance for a pair
  - {content: a.png, style: s.png, content_regions: guides/a.png}   # hand-made
  # the next pair
  - content: b.png
    style: s.png
    points:
      - [1, 2, 3, 4]

  # closing remark
seeds: [0]
"""


def _guides(text):
    return yaml.safe_load(text)["guides"]


def _outside(text, start, stop):
    lines = text.splitlines()
    return lines[:start] + lines[stop:]


def test_replacing_a_flow_entry_changes_its_line_only():
    out = set_guide_entry(README, "a.png", "s.png", REGIONS, PTS)
    assert _outside(out, 9, 10) == _outside(README, 9, 10)
    assert out.splitlines()[9] == (
        "  - {content: a.png, style: s.png, content_regions: g/c.png, style_regions: g/s.png, "
        "points: [[1, 2, 3, 4.5], [5, 6, 7, 8]]}   # hand-made")
    assert _guides(out)[0] == {"content": "a.png", "style": "s.png", **REGIONS, "points": PTS}


def test_replacing_a_block_entry_keeps_comments_around_it():
    out = set_guide_entry(README, "b.png", "s.png", REGIONS, [])
    lines = out.splitlines()
    assert lines[:11] == README.splitlines()[:11]
    assert lines[11:15] == ["  - content: b.png", "    style: s.png",
                            "    content_regions: g/c.png", "    style_regions: g/s.png"]
    assert lines[15:] == README.splitlines()[15:]
    assert _guides(out)[1] == {"content": "b.png", "style": "s.png", **REGIONS}


def test_a_new_entry_follows_the_last_in_its_style():
    out = set_guide_entry(README, "c.png", "s.png", None, PTS)
    lines = out.splitlines()
    assert lines[:15] == README.splitlines()[:15]
    assert lines[15:19] == ["  - content: c.png", "    style: s.png", "    points:",
                            "      - [1, 2, 3, 4.5]"]
    assert lines[20:] == README.splitlines()[15:]
    assert len(_guides(out)) == 3


def test_removing_entries_and_a_missing_or_empty_guides_key():
    out = set_guide_entry(README, "a.png", "s.png", None, [])
    assert "hand-made" not in out and len(_guides(out)) == 1
    emptied = set_guide_entry(out, "b.png", "s.png", None, [])
    assert emptied.splitlines() == README.splitlines()[:9] + [
        "  # the next pair", "", "  # closing remark", "seeds: [0]"]
    assert yaml.safe_load(emptied)["guides"] is None
    bare = "name: x\nmethods: [strotss]  # m\ncontents: [a.png]\nstyles: [s.png]"
    added = set_guide_entry(bare, "a.png", "s.png", None, PTS)
    assert added.startswith(bare + "\nguides:\n  - content: a.png\n")
    assert _guides(added) == [{"content": "a.png", "style": "s.png", "points": PTS}]
    for empty in ("guides:\nname: x\n", "guides: ~  # none yet\nname: x\n"):
        out = set_guide_entry(empty, "a.png", "s.png", REGIONS, [])
        assert yaml.safe_load(out) == {"name": "x", "guides": [
            {"content": "a.png", "style": "s.png", **REGIONS}]}
    flow = "name: x\nguides: [{content: a.png, style: s.png, points: [[1, 1, 1, 1]]}]  # f\n"
    out = set_guide_entry(flow, "b.png", "s.png", REGIONS, [])
    assert out.endswith("]  # f\n") and len(_guides(out)) == 2
    assert _guides(set_guide_entry(out, "a.png", "s.png", None, [])) == [
        {"content": "b.png", "style": "s.png", **REGIONS}]


def test_windows_line_endings_are_kept():
    crlf = README.replace("\n", "\r\n")
    out = set_guide_entry(crlf, "c.png", "s.png", REGIONS, [])
    assert "\n" not in out.replace("\r\n", "") and len(_guides(out)) == 3


@pytest.mark.parametrize("text, message", [
    ("name: [", "not valid YAML"), ("- a\n- b\n", "must be a YAML mapping"),
    ("guides: 3\n", "'guides' must be a list"), ("a: 1\rb: 2\n", "line breaks"),
])
def test_bad_manifest_text(text, message):
    with pytest.raises(UserError) as err:
        set_guide_entry(text, "a.png", "s.png", REGIONS, [])
    assert message in err.value.message


names = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30)


@settings(max_examples=150, deadline=None)
@given(content=names, style=names, region=names,
       points=st.lists(st.lists(st.integers(0, 10**6) | st.floats(0, 1e6), min_size=4,
                                max_size=4), max_size=3))
def test_any_file_name_reads_back_exactly(content, style, region, points):
    for text in (README, "name: x\n"):
        out = set_guide_entry(text, content, style,
                              {"content_regions": region, "style_regions": "s"}, points)
        entry = _guides(out)[-1]
        assert entry["content"] == content and entry["style"] == style
        assert entry["content_regions"] == region
        assert entry.get("points", []) == points


def test_guide_image_uses_exact_colours_and_labels_read_back():
    colours = [c for _, c in PALETTE]
    labels = np.random.default_rng(0).integers(0, len(colours) + 1, (37, 51), dtype=np.uint8)
    rgb = guide_image(labels, colours)
    assert {tuple(c) for c in rgb.reshape(-1, 3).tolist()} == {(0, 0, 0), *colours}
    with pytest.raises(UserError):
        guide_image(labels, colours[:2])


def test_labels_from_a_hand_made_guide(tmp_path):
    rgb = np.zeros((20, 30, 3), np.uint8)
    rgb[:, 10:] = (12, 34, 56)
    rgb[:5] = PALETTE[1][1]
    Image.fromarray(rgb).save(tmp_path / "g.png")
    colours = [c for _, c in PALETTE]
    labels, resized = labels_from_guide(tmp_path / "g.png", (20, 30), colours)
    assert not resized and colours[-1] == (12, 34, 56)
    np.testing.assert_array_equal(guide_image(labels, colours), rgb)
    labels, resized = labels_from_guide(tmp_path / "g.png", (40, 60), colours)
    assert resized and labels.shape == (40, 60)
    noise = np.random.default_rng(1).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "n.png")
    with pytest.raises(UserError, match="more than 64 colours"):
        labels_from_guide(tmp_path / "n.png", (20, 30), list(colours))


@pytest.fixture
def project(tmp_path):
    """A manifest over one content (60×80) and one style (200×110) with comments."""
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)).save(tmp_path / "c.png")
    Image.fromarray(rng.integers(0, 256, (200, 110, 3), dtype=np.uint8)).save(tmp_path / "s.png")
    text = ("# my set\nname: guided  # the name\ncontents: [c.png]\nstyles: [s.png]\n"
            "methods:\n  - name: strotss   # the method\n    params: {iterations: 2}\n")
    (tmp_path / "set.yaml").write_text(text)
    return tmp_path, text


def _labels(shape, split):
    lab = np.zeros(shape, np.uint8)
    lab[:, :split] = 1
    lab[:, split:] = 2
    return lab


def test_save_writes_exact_guides_and_a_valid_entry(project):
    path, text = project
    colours = [c for _, c in PALETTE]
    before = pair_guidance(manifest.load(path / "set.yaml"))
    labels = {"content_regions": _labels((60, 80), 30), "style_regions": _labels((200, 110), 55)}
    saved = save_guidance(path / "set.yaml", "c.png", "s.png", labels, colours,
                          [[10, 20, 100, 100]], before.digest)
    new = (path / "set.yaml").read_text()
    assert new.startswith(text) and new[len(text):] == (
        "guides:\n  - content: c.png\n    style: s.png\n"
        "    content_regions: guides/c.png--s.png.content_regions.png\n"
        "    style_regions: guides/c.png--s.png.style_regions.png\n"
        "    points:\n      - [10, 20, 100, 100]\n")
    pair = saved.pairs[0]
    assert saved.points[pair] == [[10.0, 20.0, 100.0, 100.0]]
    cg = np.asarray(Image.open(saved.guides[pair]["content_regions"]))
    sg = np.asarray(Image.open(saved.guides[pair]["style_regions"]))
    assert cg.shape == (60, 80, 3) and sg.shape == (200, 110, 3)
    np.testing.assert_array_equal(cg, guide_image(labels["content_regions"], colours))
    np.testing.assert_array_equal(sg, guide_image(labels["style_regions"], colours))
    regions = extract_regions(cg, sg)
    assert sorted((int(c.sum()), int(s.sum())) for c, s in regions) == [
        (30 * 60, 55 * 200), (50 * 60, 55 * 200)]
    # a stale page is refused; a fresh one may clear everything, which removes the entry
    with pytest.raises(UserError, match="changed on disk"):
        save_guidance(path / "set.yaml", "c.png", "s.png", None, colours, [], before.digest)
    now = pair_guidance(manifest.load(path / "set.yaml"), "c.png", "s.png")
    assert now.points == [[10.0, 20.0, 100.0, 100.0]] and set(now.files) == {
        "content_regions", "style_regions"}
    save_guidance(path / "set.yaml", "c.png", "s.png", None, colours, [], now.digest)
    assert (path / "set.yaml").read_text() == text + "guides:\n"


@pytest.mark.parametrize("labels, points, message", [
    ({"content_regions": np.ones((60, 80), np.uint8),
      "style_regions": np.ones((120, 100), np.uint8)}, [], "but s.png is 110×200"),
    ({"content_regions": np.ones((60, 80), np.uint8),
      "style_regions": np.repeat(np.uint8([1, 2, 3]), [67, 67, 66])[:, None].repeat(110, 1)}, [],
     "no colour covering more than 10000"),
    (None, [[60, 0, 0, 0]], "inside the images"),
    (None, [[0, 0, 0, 110]], "inside the images"),
    (None, [[0, 0, 0, -1]], "inside the images"),
    (None, [[0, 0, 0]], "inside the images"),
])
def test_refused_saves_change_nothing(project, labels, points, message):
    path, text = project
    with pytest.raises(UserError) as err:
        save_guidance(path / "set.yaml", "c.png", "s.png", labels,
                      [c for _, c in PALETTE], points)
    assert message in err.value.message
    assert (path / "set.yaml").read_text() == text
    assert not (path / "guides").exists() or labels is not None


def test_a_save_the_loader_refuses_leaves_the_file(project):
    path, text = project
    broken = text.replace("iterations: 2", "iterations: 0")
    (path / "set.yaml").write_text(broken)
    with pytest.raises(UserError, match="iterations"):
        save_guidance(path / "set.yaml", "c.png", "s.png", None, [], [[1, 1, 1, 1]])
    assert (path / "set.yaml").read_text() == broken
    assert [p.name for p in path.iterdir() if p.name.startswith(".")] == []
