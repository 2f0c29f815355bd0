"""Pre-made outputs: a complete and a partial folder, one message for every problem,
completion by re-running, patterns with seeds, and changed files refused unless asked."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from stylestudy.db import session_scope
from stylestudy.db.assets import load_pixels
from stylestudy.errors import UserError
from stylestudy.generator import manifest, premade, runner
from stylestudy.generator.imageops import output_shape
from tests.generator.manifests import CLI, DEMO

CONTENTS = ("astronaut", "chelsea", "coffee")
STYLES = ("hubble", "ihc")
SIZE = 40


def setup_set(tmp_path: Path, outputs: str = "out", **over) -> Path:
    data = {"name": "mine", "size": SIZE, "contents": [str(DEMO / "contents")],
            "styles": [str(DEMO / "styles" / f"{s}.png") for s in STYLES],
            "methods": ["content-copy", {"name": "my-method", "version": "2024-11",
                                         "notes": "trained 40 epochs on cluster X",
                                         "outputs": outputs}], **over}
    (tmp_path / "out").mkdir(exist_ok=True)
    path = tmp_path / "set.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def picture(content: str, style: str, seed: int = 0, shape=None) -> np.ndarray:
    """A distinct image per generation, at the set's output size for ``content``."""
    h, w = shape or output_shape(*load_demo(content).shape[:2], SIZE)
    rng = np.random.default_rng(zlib.crc32(f"{content}|{style}|{seed}".encode()))
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def load_demo(content: str) -> np.ndarray:
    return np.asarray(Image.open(DEMO / "contents" / f"{content}.png").convert("RGB"))


def save(path: Path, pixels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


def run(path: Path, replace_changed: bool = False):
    spec = manifest.load(path)
    planned = runner.plan(spec)
    [report] = premade.import_outputs(spec, planned, replace_changed=replace_changed)
    return report


def outputs() -> dict[tuple[str, str, int], tuple[str, np.ndarray | None, dict]]:
    with session_scope() as s:
        return {(Path(g.content.source_name).stem, Path(g.style.source_name).stem, g.seed):
                (g.status, load_pixels(g.output) if g.output else None, dict(g.provenance))
                for g in runner.set_generations("mine", s) if g.method.name == "my-method"}


def test_complete_folder_is_imported_with_provenance(home, tmp_path):
    path = setup_set(tmp_path)
    for c in CONTENTS:
        for s in STYLES:
            save(tmp_path / "out" / f"{c}__{s}.png", picture(c, s))
    (tmp_path / "out" / "notes.txt").write_text("not an image: ignored")
    report = run(path)
    assert (report.imported, report.incomplete, report.extra) == (6, False, [])
    got = outputs()
    assert len(got) == 6
    for (c, s, _), (status, pixels, prov) in got.items():
        assert status == "done"
        np.testing.assert_array_equal(pixels, picture(c, s))
        file = tmp_path / "out" / f"{c}__{s}.png"
        assert prov["premade"]["file"] == f"out/{c}__{s}.png"
        assert prov["premade"]["file_name"] == file.name
        assert prov["premade"]["file_sha256"] == hashlib.sha256(file.read_bytes()).hexdigest()
        assert prov["premade"]["notes"] == "trained 40 epochs on cluster X"
        assert prov["method"]["version"] == "2024-11" and prov["method"]["source"] == "pre-made"
        assert prov["output_resized_from"] is None
    with session_scope() as s:
        mine = [g for g in runner.set_generations("mine", s) if g.method.name == "my-method"]
        assert {g.output.source_name for g in mine} == {f"{c}__{s}.png" for c in CONTENTS
                                                         for s in STYLES}
    # pre-made rows are never handed to an executor; a re-run imports nothing again
    assert len(runner.pending_ids("mine")) == 6  # only content-copy's rows
    again = run(path)
    assert (again.imported, again.already) == (0, 6)


def test_partial_folder_one_message_then_completed_by_rerun(home, tmp_path):
    path = setup_set(tmp_path)
    out = tmp_path / "out"
    save(out / "astronaut__hubble.png", picture("astronaut", "hubble"))
    # rounding to a multiple of 8 is within tolerance: resized, and recorded
    h, w = output_shape(*load_demo("coffee").shape[:2], SIZE)
    save(out / "coffee__hubble.png", picture("coffee", "hubble", shape=(h + 1, w)))
    save(out / "coffee__ihc.png", picture("coffee", "ihc", shape=(SIZE, SIZE)))  # square
    (out / "chelsea__ihc.png").write_bytes(b"not a png")
    save(out / "Chelsea__hubble.png", picture("chelsea", "hubble"))  # wrong case: extra
    save(out / "astronaut__starry.png", picture("astronaut", "ihc"))  # no such style
    env = dict(os.environ, STYLESTUDY_HOME=os.environ["STYLESTUDY_HOME"])
    res = subprocess.run([*CLI, "generate", str(path), "--no-progress"], env=env,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 1 and "Traceback" not in res.stderr
    message = res.stderr.strip()
    assert message.startswith("pre-made outputs of 'my-method' (out): 2 imported now, "
                              "0 already imported")
    assert "\n  missing (2): out/astronaut__ihc.*, out/chelsea__hubble.*" in message
    assert "\n  unreadable (1): out/chelsea__ihc.png (not an image format Pillow can read)" \
        in message
    assert f"\n  wrongly sized (1): out/coffee__ihc.png is {SIZE}×{SIZE} px, expected " \
           f"{w}×{h}" in message
    assert "\n  extra (no generation of the set) (2): out/Chelsea__hubble.png, " \
           "out/astronaut__starry.png" in message
    assert message.count("pre-made outputs of") == 1
    status = runner.set_counts("mine")
    assert status == {"done": 8, "running": 0, "interrupted": 0, "failed": 2, "pending": 2}
    got = outputs()
    assert got[("coffee", "hubble", 0)][2]["output_resized_from"] == [h + 1, w]
    assert got[("coffee", "hubble", 0)][1].shape == (h, w, 3)
    assert "pending     2  (2 wait for pre-made files)" in res.stdout
    # fix the files and add the missing ones: a plain re-run completes the set
    save(out / "coffee__ihc.png", picture("coffee", "ihc"))
    save(out / "chelsea__ihc.png", picture("chelsea", "ihc"))
    save(out / "astronaut__ihc.png", picture("astronaut", "ihc"))
    (out / "Chelsea__hubble.png").rename(out / "chelsea__hubble.png")
    (out / "astronaut__starry.png").unlink()
    res = subprocess.run([*CLI, "generate", str(path), "--no-progress"], env=env,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert runner.set_counts("mine")["done"] == 12
    for (c, s, _), (_, pixels, _) in outputs().items():
        if (c, s) != ("coffee", "hubble"):
            np.testing.assert_array_equal(pixels, picture(c, s))


def test_pattern_with_seeds_and_folders(home, tmp_path):
    path = setup_set(tmp_path, outputs="out/{style}/s{seed}-{content}.jpg", seeds=[0, 1],
                     contents=[str(DEMO / "contents" / "coffee.png")])
    for s in STYLES:
        for seed in (0, 1):
            save(tmp_path / "out" / s / f"s{seed}-coffee.jpg", picture("coffee", s, seed))
    save(tmp_path / "out" / "ihc" / "s7-coffee.jpg", picture("coffee", "ihc"))  # no seed 7
    report = run(path)
    assert report.imported == 4 and report.extra == ["out/ihc/s7-coffee.jpg"]
    got = outputs()
    assert set(got) == {("coffee", s, seed) for s in STYLES for seed in (0, 1)}
    a, b = got[("coffee", "ihc", 0)][1], got[("coffee", "ihc", 1)][1]
    assert a.shape == b.shape and not np.array_equal(a, b)  # one file per seed (JPEG)


def test_a_changed_file_is_refused_unless_asked(home, tmp_path):
    path = setup_set(tmp_path, contents=[str(DEMO / "contents" / "coffee.png")],
                     styles=[str(DEMO / "styles" / "ihc.png")])
    file = tmp_path / "out" / "coffee__ihc.png"
    save(file, picture("coffee", "ihc"))
    assert run(path).imported == 1
    first = outputs()[("coffee", "ihc", 0)]
    save(file, picture("coffee", "ihc", seed=5))
    report = run(path)
    assert report.changed == ["out/coffee__ihc.png"] and report.incomplete
    assert "changed since imported (--replace-changed imports the new files) (1): " \
           "out/coffee__ihc.png" in report.message()
    np.testing.assert_array_equal(outputs()[("coffee", "ihc", 0)][1], first[1])
    report = run(path, replace_changed=True)
    assert report.replaced == 1 and not report.incomplete
    status, pixels, prov = outputs()[("coffee", "ihc", 0)]
    np.testing.assert_array_equal(pixels, picture("coffee", "ihc", seed=5))
    assert prov["replaced"][0]["file_sha256"] == first[2]["premade"]["file_sha256"]
    assert run(path).already == 1


@pytest.mark.parametrize("outputs, message", [
    ("nowhere", "'outputs' folder 'nowhere' does not exist"),
    ("out/{content}.png", "must contain {content} and {style}"),
    ("out/{content}__{style}_{epoch}.png", "unknown placeholder {epoch}"),
    ("missing/{content}__{style}.png", "folder 'missing' of 'outputs' does not exist"),
])
def test_bad_outputs_entries(tmp_path, outputs, message):
    with pytest.raises(UserError) as err:
        manifest.load(setup_set(tmp_path, outputs=outputs))
    assert message in err.value.message


def test_parameters_fill_the_pattern_and_stems_must_be_unique(home, tmp_path):
    for alpha in (1, 2):
        (tmp_path / "out" / f"a{alpha}").mkdir(parents=True)
    path = setup_set(tmp_path, methods=[{
        "name": "mine-sweep", "outputs": "out/a{alpha}/{content}__{style}.png",
        "sweep": {"alpha": [1, 2]}}])
    spec = manifest.load(path)
    assert [c.label for c in spec.conditions] == ["mine-sweep[alpha=1]", "mine-sweep[alpha=2]"]
    assert spec.conditions[0].premade.pattern.endswith("out/a1/{content}__{style}.png")
    twin = tmp_path / "twin"
    twin.mkdir()
    shutil.copy(DEMO / "contents" / "coffee.png", twin / "coffee.jpg")
    with pytest.raises(UserError, match="stem 'coffee'"):
        manifest.load(setup_set(tmp_path, contents=[str(DEMO / "contents"), str(twin)]))
