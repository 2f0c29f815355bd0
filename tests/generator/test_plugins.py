"""Installed plugins (the example package in docs/examples/plugin, installed into a
temporary folder), a broken plugin reported by name, and one small set made all three
ways of your own used by `study create` and `metrics` like built-in methods."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image
from sqlalchemy import select

from stylestudy.db import session_scope
from stylestudy.db.assets import load_pixels
from stylestudy.db.models import DesignCell, Study
from stylestudy.generator import runner
from stylestudy.generator.imageops import output_shape, resize, to_float
from tests.generator.manifests import CLI, DEMO

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "docs" / "examples" / "plugin"


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory) -> Path:
    """The example plugin installed with pip into a folder of its own (offline, no build
    isolation), as `pip install` puts it into any environment."""
    tmp = tmp_path_factory.mktemp("plugin")
    source = tmp / "src"
    shutil.copytree(EXAMPLE, source)  # building writes next to the sources
    target = tmp / "site"
    res = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                          "--no-index", "--no-build-isolation", "--target", str(target),
                          str(source)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert (target / "stylestudy_example_plugin" / "__init__.py").is_file()
    return target


def broken_plugin(folder: Path) -> Path:
    """A distribution whose entry point fails on import (its compiled extension is missing)."""
    info = folder / "broken_plugin-0.2.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 0.2\n")
    (info / "entry_points.txt").write_text(
        "[stylestudy.methods]\nfast-st = broken_plugin_mod:FastST\n")
    (folder / "broken_plugin_mod.py").write_text(
        "raise ImportError('the CUDA extension fast_st_ext is not built')\n")
    return folder


def env_with(home: str, *paths: Path) -> dict[str, str]:
    env = dict(os.environ, STYLESTUDY_HOME=home, PYTHONUNBUFFERED="1",
               PYTHONPATH=os.pathsep.join(str(p) for p in paths))
    env.pop("STYLESTUDY_DATABASE_URL", None)
    return env


def test_methods_lists_plugins_and_reports_a_broken_one(home, tmp_path, plugin_path):
    env = env_with(home, plugin_path, broken_plugin(tmp_path / "broken"))
    res = subprocess.run([*CLI, "methods"], env=env, capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    lines = {ln.split()[0]: ln for ln in res.stdout.splitlines()[1:]}
    assert "plugin stylestudy-example-plugin 0.1.0" in lines["mean-tint"]
    assert lines["mean-tint"].split()[1:3] == ["0.1.0", "classical"]
    assert "built-in" in lines["reinhard"] and "strotss" in lines  # the others still load
    assert res.stderr.strip() == ("plugin fast-st (broken-plugin 0.2) failed to load: "
                                  "ImportError: the CUDA extension fast_st_ext is not built")
    # naming the broken plugin's method in a manifest says why it is unknown
    manifest = tmp_path / "m.yaml"
    manifest.write_text(yaml.safe_dump({"name": "x", "contents": [str(DEMO / "contents")],
                                        "styles": [str(DEMO / "styles")],
                                        "methods": ["fast-st"]}))
    res = subprocess.run([*CLI, "generate", str(manifest)], env=env, capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 2 and "unknown method 'fast-st'" in res.stderr
    assert "plugin fast-st (broken-plugin 0.2) failed to load: ImportError" in res.stderr


COMMAND = '''
import sys
from PIL import Image, ImageOps
content, output, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
im = Image.open(content).convert("RGB")
w, h = im.size
ImageOps.grayscale(im).convert("RGB").resize(
    (round(w * size / max(w, h)), round(h * size / max(w, h)))).save(output)
'''


@pytest.mark.slow
def test_all_three_ways_in_one_set_reach_a_study_and_metrics(home, tmp_path, plugin_path):
    contents = [DEMO / "contents" / f"{c}.png" for c in ("coffee", "chelsea")]
    style = DEMO / "styles" / "ihc.png"
    (tmp_path / "gray.py").write_text(COMMAND)
    made = tmp_path / "made"
    made.mkdir()
    for c in contents:
        h, w = output_shape(*np.asarray(Image.open(c)).shape[:2], 32)
        Image.fromarray(np.full((h, w, 3), 20 * len(c.stem), np.uint8)).save(
            made / f"{c.stem}__ihc.png")
    manifest = tmp_path / "own.yaml"
    manifest.write_text(yaml.safe_dump({
        "name": "own", "size": 32, "contents": [str(c) for c in contents],
        "styles": [str(style)], "methods": [
            "reinhard",
            {"name": "mean-tint", "params": {"strength": 0.8}},
            {"name": "gray", "version": "1.2",
             "command": f"{sys.executable} gray.py {{content}} {{output}} {{size}}"},
            {"name": "flat", "version": "2024-11", "notes": "made on the cluster",
             "outputs": "made"}]}))
    env = env_with(home, plugin_path)
    res = subprocess.run([*CLI, "generate", str(manifest), "--no-progress"], env=env,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    assert runner.set_counts("own")["done"] == 8
    with session_scope() as s:
        for g in runner.set_generations("own", s):
            source = g.provenance["method"]["source"]
            assert source == {"reinhard": "built-in", "mean-tint[strength=0.8]": "plugin",
                              "gray": "command", "flat": "pre-made"}[g.method.label]
            if source == "plugin":
                assert g.provenance["method"]["plugin"] == {
                    "distribution": "stylestudy-example-plugin", "version": "0.1.0",
                    "entry_point": "mean-tint"}
                content = resize(to_float(load_pixels(g.content)),
                                 output_shape(*load_pixels(g.content).shape[:2], 32))
                shift = to_float(load_pixels(g.style)).mean(axis=(0, 1)) - content.mean(
                    axis=(0, 1))
                want = np.rint(np.clip(content + 0.8 * shift, 0, 1) * 255)
                np.testing.assert_allclose(load_pixels(g.output), want, atol=1)
    spec = tmp_path / "study.yaml"
    labels = ["reinhard", "mean-tint[strength=0.8]", "gray", "flat"]
    spec.write_text(yaml.safe_dump({
        "slug": "own-study", "comparison_set": "own", "questions": ["content", "style"],
        "methods": labels, "judgments_per_cell": 2, "trials_per_session": 8,
        "practice_trials": 2, "platform": "link", "participant_param": "participant"}))
    res = subprocess.run([*CLI, "study", "create", str(spec)], env=env, capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    with session_scope() as s:
        study = s.scalar(select(Study).where(Study.slug == "own-study"))
        cells = s.scalars(select(DesignCell).where(DesignCell.study_id == study.id,
                                                   DesignCell.kind == "real")).all()
        pairs = {frozenset((c.method_a.label, c.method_b.label)) for c in cells}
    assert len(pairs) == 6 and set().union(*pairs) == set(labels)
    assert len(cells) == 6 * 2 * 2  # method pairs × items × questions
    table = tmp_path / "metrics.csv"
    res = subprocess.run([*CLI, "metrics", "own", "--lpips", "", "--no-gram", "-o",
                          str(table)], env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    scores = pd.read_csv(table)
    assert sorted(scores["method"].unique()) == sorted(labels) and len(scores) == 8
    assert scores["ssim_y"].between(-1, 1).all()
