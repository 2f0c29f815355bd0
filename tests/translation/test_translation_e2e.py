"""Smoke profile end to end through the CLI: build, train, kill -9 and resume, evaluate,
generate from a manifest with the trained checkpoint."""

from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from stylestudy.generator.translation.train import load_translator, train

CLI = [sys.executable, "-m", "stylestudy.cli"]
pytestmark = pytest.mark.slow


def run_cli(*args, env=None, check=True):
    res = subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=300)
    if check:
        assert res.returncode == 0, res.stderr[-2000:]
    return res


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    run_cli("digits", "build", "--out", str(root / "data"), "--size", "28")
    return root


def _state(path):
    return torch.load(path, map_location="cpu", weights_only=True)


def test_kill_9_resume_matches_an_uninterrupted_run(built):
    data = str(built / "data")
    common = ["--data", data, "--profile", "smoke", "--seed", "3", "--device", "cpu",
              "--quiet", "--threads", "1"]  # one thread: bit-identical float reductions
    run_cli("train", "egsc-it", "--out", str(built / "ref"), *common)
    ref = built / "ref" / "ckpt.pt"
    out = built / "killed"
    args = [*CLI, "train", "egsc-it", "--out", str(out), *common]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (out / "ckpt.pt").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = _state(out / "ckpt.pt")
    assert not partial["done"]
    assert (partial["stage"], partial["iteration"]) < (2, 0)
    res = run_cli("train", "egsc-it", "--out", str(out), *common)
    assert "checkpoint:" in res.stdout
    a, b = _state(ref)["state"]["model"], _state(out / "ckpt.pt")["state"]["model"]
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)
    # a finished run is not retrained, and a different config is refused
    assert _state(out / "ckpt.pt")["done"]
    bad = run_cli("train", "egsc-it", "--out", str(out), "--data", data, "--profile", "smoke",
                  "--seed", "4", check=False)
    assert bad.returncode == 2 and "different seed" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_baselines_train_and_translate(built):
    data = built / "data"
    for method in ("cyclegan", "unit", "munit"):
        ckpt = train(method, data, "smoke", built / method, device="cpu", progress=False)
        model, rec = load_translator(ckpt)
        assert rec["method"] == method and rec["profile"] == "smoke"
        y = model.translate(torch.zeros(2, 3, 28, 28), torch.zeros(2, 3, 28, 28), "b")
        assert y.shape == (2, 3, 28, 28) and torch.isfinite(y).all()


def test_eval_writes_csv_and_table(built):
    runs = built / "runs"
    runs.mkdir(exist_ok=True)
    shutil.copytree(built / "ref", runs / "egsc", dirs_exist_ok=True)
    out = built / "eval"
    res = run_cli("digits", "eval", "--data", str(built / "data"), "--runs", str(runs),
                  "--out", str(out), "-n", "40", "--device", "cpu", "--diversity-sources", "4")
    assert "| EGSC-IT | smoke |" in res.stdout
    with open(out / "ssim.csv") as fh:
        rows = {r["name"]: r for r in csv.DictReader(fh)}
    assert set(rows) == {"EGSC-IT", "identity", "copy-exemplar", "exemplar-background",
                         "colour-oracle"}
    assert float(rows["colour-oracle"]["ab_mean"]) == 1.0
    orderings = (out / "orderings.md").read_text()
    for ref in ("identity", "copy-exemplar", "exemplar-background"):
        assert f"| EGSC-IT > {ref} | A→B |" in orderings and f"| EGSC-IT > {ref} | B→A |" \
            in orderings
    assert "colour-oracle |" not in orderings  # an upper bound, not a bar to clear
    assert float(rows["identity"]["ab_diversity"]) == 0.0
    assert float(rows["EGSC-IT"]["ba_diversity"]) >= 0 and rows["EGSC-IT"]["diversity_sources"] \
        == "4"
    # inputs, exemplars, truth, then one row per generator; 8 pairs of 28 px tiles at ×2
    grid = Image.open(out / "samples.png")
    assert grid.height == 8 * (56 + 2) and grid.width > 8 * 58
    fig = run_cli("digits", "curves", "--runs", str(runs), "--out", str(built / "c.svg"))
    svg = (built / "c.svg").read_text()
    assert "written:" in fig.stdout and "EGSC-IT [egsc]" in svg and "<dc:date>" not in svg
    assert rows["EGSC-IT"]["n"] == "40" and rows["EGSC-IT"]["profile"] == "smoke"
    assert -1 <= float(rows["EGSC-IT"]["ab_mean"]) <= 1
    # same seed, same output
    again = run_cli("digits", "eval", "--data", str(built / "data"), "--runs", str(runs),
                    "--out", str(built / "eval2"), "-n", "40", "--device", "cpu",
                    "--diversity-sources", "4")
    assert again.stdout == res.stdout


def test_manifest_generates_with_the_checkpoint(built, home, tmp_path):
    src = built / "data" / "test"
    for i in range(2):
        shutil.copy(src / "A" / f"{i:04d}.png", tmp_path / f"a{i}.png")
        shutil.copy(src / "B" / f"{i:04d}.png", tmp_path / f"b{i}.png")
    spec = {"name": "digits-smoke", "size": 28, "seeds": [0],
            "contents": ["a0.png", "a1.png"], "styles": ["b0.png", "b1.png"],
            "pairs": [["a0.png", "b0.png"], ["a1.png", "b1.png"]],
            "methods": [{"name": "egsc-it", "checkpoint": str(built / "ref" / "ckpt.pt")},
                        {"name": "colour-oracle"}, {"name": "identity"}]}
    path = tmp_path / "manifest.yaml"
    path.write_text(yaml.safe_dump(spec))
    env = dict(os.environ, STYLESTUDY_HOME=home)
    env.pop("STYLESTUDY_DATABASE_URL", None)
    run_cli("generate", str(path), "--no-progress", env=env)

    from stylestudy.db import session_scope
    from stylestudy.db.assets import load_pixels
    from stylestudy.generator import runner

    with session_scope() as s:
        gens = runner.set_generations("digits-smoke", s)
        assert len(gens) == 6 and all(g.status == "done" for g in gens)
        for g in gens:
            out = load_pixels(g.output)
            assert out.shape == (28, 28, 3)
            name = g.provenance["method"]["name"]
            if name == "colour-oracle":
                pair = int(g.content.source_name[1])
                gt = np.asarray(Image.open(src / "A2B" / f"{pair:04d}.png"))
                np.testing.assert_array_equal(out, gt)
            if name == "egsc-it":
                ck = g.provenance["weights"]["checkpoint"]
                assert ck["profile"] == "smoke" and len(ck["sha256"]) == 64
                assert g.provenance["translator"]["ablation"] == "none"


def test_cli_user_errors_are_one_line(built, tmp_path):
    bad_data = run_cli("train", "egsc-it", "--data", str(tmp_path), "--out", str(tmp_path / "o"),
                       "--profile", "smoke", check=False)
    assert bad_data.returncode == 2 and "digits build" in bad_data.stderr
    bad_ckpt = run_cli("digits", "eval", "--data", str(built / "data"), "--checkpoint",
                       str(built / "data" / "meta.json"), "--out", str(tmp_path), check=False)
    assert bad_ckpt.returncode == 2
    bad_fig = run_cli("digits", "curves", "--runs", str(tmp_path), "--out",
                      str(tmp_path / "c.txt"), check=False)
    assert bad_fig.returncode == 2 and ".svg" in bad_fig.stderr
    for res in (bad_data, bad_ckpt, bad_fig):
        assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr
