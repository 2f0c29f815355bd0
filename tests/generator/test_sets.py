"""A set as people see it: set list/show/export, the HTML gallery in chromium, and the
qualitative figure whose LaTeX compiles."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from PIL import Image

from stylestudy.cli import cli
from stylestudy.db import session_scope
from stylestudy.db.assets import load_pixels
from stylestudy.generator import manifest, premade, runner
from stylestudy.generator.figure import GAP, latex_escape
from stylestudy.generator.imageops import output_shape, resize
from tests.e2e.e2e_helpers import CHROMIUM, chromium
from tests.generator.manifests import DEMO

SIZE = 32


def picture(name: str, shape) -> np.ndarray:
    return np.random.default_rng(zlib.crc32(name.encode())).integers(
        0, 256, (*shape, 3), dtype=np.uint8)


@pytest.fixture
def made_set(home, tmp_path):
    """Set 'look': 2 contents × 2 styles × content-copy, reinhard and pre-made 'mine'
    (one of its files unreadable, so one failure)."""
    out = tmp_path / "out"
    out.mkdir()
    data = {"name": "look", "size": SIZE,
            "contents": [str(DEMO / "contents" / f"{c}.png") for c in ("coffee", "chelsea")],
            "styles": [str(DEMO / "styles" / f"{s}.png") for s in ("ihc", "hubble")],
            "methods": ["content-copy", "reinhard",
                        {"name": "mine", "label": "mine_v2 & co", "outputs": "out"}]}
    path = tmp_path / "set.yaml"
    path.write_text(yaml.safe_dump(data))
    spec = manifest.load(path)
    for c in spec.contents:
        h, w = np.asarray(Image.open(c)).shape[:2]
        for s in spec.styles:
            target = out / f"{c.stem}__{s.stem}.png"
            if (c.stem, s.stem) == ("chelsea", "hubble"):
                target.write_bytes(b"broken")
            else:
                Image.fromarray(picture(target.name, output_shape(h, w, SIZE))).save(target)
    planned = runner.plan(spec)
    premade.import_outputs(spec, planned)
    runner.run_local(runner.pending_ids("look"), runner.MethodCache("cpu"))
    return spec


def invoke(*args: str):
    res = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return res


def test_set_list_and_show(made_set):
    res = invoke("set", "list")
    assert res.exit_code == 0
    line = next(ln for ln in res.output.splitlines() if ln.startswith("look "))
    assert line.split()[:6] == ["look", "3", "12", "11", "1", "0"]
    res = invoke("set", "show", "look")
    assert res.exit_code == 0, res.output
    out = res.output
    assert "comparison set 'look': 12 generations" in out
    assert "done 11, running 0, interrupted 0, failed 1, pending 0" in out
    assert "size (long side): 32; outputs: 32×21\n" in out  # coffee 256×171, chelsea 451×300
    assert "2 pairs" not in out and "4 pairs of 2 contents (chelsea, coffee) × 2 styles " \
                                     "(hubble, ihc)" in out
    rows = {ln.split()[0]: ln.split() for ln in out.splitlines()[4:8]}
    assert rows["content-copy"][1:4] == ["content-copy", "1", "built-in"]
    assert rows["mine_v2"][-5:] == ["3", "0", "0", "1", "0"] and "pre-made" in out
    assert "FAILED mine_v2 & co on chelsea × hubble (seed 0): pre-made file " \
           "out/chelsea__hubble.png is not a readable image" in out
    res = CliRunner().invoke(cli, ["set", "show", "nope"])
    assert res.exit_code == 2 and "no comparison set named 'nope'" in res.output


def test_export_names_files_and_writes_provenance(made_set, tmp_path):
    target = tmp_path / "export"
    res = invoke("set", "export", "look", "--out", str(target))
    assert res.exit_code == 0, res.output
    assert res.output.startswith("11 outputs in ")
    names = sorted(p.name for p in target.glob("*.png"))
    assert len(names) == 11 and "coffee__ihc__reinhard.png" in names
    assert "coffee__ihc__mine_v2_co.png" in names  # unsafe characters replaced
    with open(target / "provenance.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 12
    with session_scope() as s:
        by_id = {g.id: g for g in runner.set_generations("look", s)}
        for row in rows:
            g = by_id[int(row["generation_id"])]
            assert row["label"] == g.method.label and row["status"] == g.status
            if row["file"]:
                np.testing.assert_array_equal(
                    np.asarray(Image.open(target / row["file"])), load_pixels(g.output))
                assert row["output_sha256"] == g.output.sha256
                assert json.loads(row["provenance"])["method"]["label"] == g.method.label
            else:
                assert g.status == "failed" and "not a readable image" in row["error"]
    sources = {r["label"]: r["source"] for r in rows}
    assert sources == {"content-copy": "built-in", "reinhard": "built-in",
                       "mine_v2 & co": "pre-made"}
    assert (target / "inputs" / "content__coffee.png").is_file()


@pytest.mark.browser
@pytest.mark.skipif(not shutil.which(CHROMIUM), reason="needs Debian chromium")
def test_gallery_opens_in_chromium(made_set, tmp_path):
    target = tmp_path / "export"
    invoke("set", "export", "look", "--out", str(target))
    errors: list[str] = []
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("requestfailed", lambda r: errors.append(r.url))
        page.goto((target / "index.html").as_uri())
        page.wait_for_load_state("load")
        heads = page.locator("thead th").all_inner_texts()
        assert heads == ["content", "style", "content-copy", "reinhard", "mine_v2 & co"]
        assert page.locator("tbody tr").count() == 4
        sizes = page.eval_on_selector_all(
            "img", "imgs => imgs.map(i => [i.complete, i.naturalWidth])")
        assert len(sizes) == 4 * 2 + 11 and all(ok and w > 0 for ok, w in sizes)
        missing = page.locator("td.missing")
        assert missing.count() == 1 and missing.inner_text().startswith("failed\npre-made")
        assert "not a readable image" in missing.get_attribute("title")
        shot = tmp_path / "gallery.png"
        page.screenshot(path=str(shot), full_page=True)
    assert not errors
    image = np.asarray(Image.open(shot).convert("RGB"))
    assert image.shape[1] == 1200 and image.shape[0] > 4 * 100
    # the first row's reinhard thumbnail is on screen: many distinct colours, not blank
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 1000


def test_figure_grid_and_its_latex_compiles(made_set, tmp_path):
    if shutil.which("pdflatex") is None:
        pytest.fail("pdflatex is missing: `make system-deps` installs TeX Live")
    out = tmp_path / "paper" / "fig.pdf"
    res = invoke("figure", "look", "--pairs", "coffee.png:ihc,chelsea:ihc",
                 "--conditions", "reinhard", "--conditions", "mine_v2 & co",
                 "--cell-width", "64", "--out", str(out))
    assert res.exit_code == 0, res.output
    grid = np.asarray(Image.open(out.with_suffix(".png")))
    pad = round(64 * GAP / 2)

    def tall(name: str) -> int:  # height at 64 px wide
        w, h = Image.open(DEMO / name).size
        return round(64 * h / w)

    rows = [max(tall(f"contents/{c}.png"), tall("styles/ihc.png")) for c in ("coffee",
                                                                            "chelsea")]
    assert grid.shape == (sum(rows) + 4 * pad, 4 * (64 + 2 * pad), 3)
    row_h = rows[0]
    with session_scope() as s:
        g = next(g for g in runner.set_generations("look", s)
                 if g.method.label == "reinhard" and g.content.source_name == "coffee.png"
                 and g.style.source_name == "ihc.png")
        output = load_pixels(g.output)  # 32×21: at 64 wide, 42 high
        out_h = round(output.shape[0] * 64 / output.shape[1])
        cell = resize(output, (out_h, 64))
    x = 2 * (64 + 2 * pad) + pad  # third column: the first condition, centred in its row
    y = pad + (row_h - out_h) // 2
    np.testing.assert_array_equal(grid[y:y + out_h, x:x + 64], cell)
    assert (grid[pad:y, x:x + 64] == 255).all()  # white above it
    assert out.read_bytes().startswith(b"%PDF")
    tex = out.with_suffix(".tex").read_text()
    assert "\\includegraphics[width=\\linewidth]{fig.pdf}" in tex
    for label in ("Content", "Style", "reinhard", latex_escape("mine_v2 & co")):
        assert f"{{\\strut {label}}}" in tex
    doc = out.parent / "paper.tex"
    doc.write_text("\\documentclass{article}\n\\usepackage{graphicx}\n\\begin{document}\n"
                   "\\input{fig.tex}\n\\end{document}\n")
    res = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error",
                          "paper.tex"], cwd=out.parent, capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stdout[-2000:]
    assert (out.parent / "paper.pdf").stat().st_size > 1000
    assert "Overfull \\hbox" not in res.stdout  # the labels fit their columns


def test_figure_refuses_unknown_and_unfinished(made_set, tmp_path):
    out = str(tmp_path / "f.pdf")
    for args, message in [
        (["--conditions", "gatys"], "has no condition 'gatys'"),
        (["--pairs", "coffee:starry"], "has no pair coffee:starry"),
        (["--pairs", "chelsea:hubble"], "missing: mine_v2 & co on chelsea × hubble (failed)"),
        (["--pairs", "coffee"], "--pairs takes CONTENT:STYLE"),
    ]:
        res = CliRunner().invoke(cli, ["figure", "look", *args, "--out", out])
        assert res.exit_code == 2 and message in res.output, res.output
    assert not Path(out).exists()
