"""The STROTSS paper's baselines end to end: one manifest with every new method generates a
set on the CPU (AdaIN and WCT on imported files in the authors' layout), and `study create`
accepts it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml
from click.testing import CliRunner
from sqlalchemy import select

from stylestudy.cli import cli
from stylestudy.db.engine import session_scope
from stylestudy.db.models import DesignCell, Study
from stylestudy.generator import runner
from stylestudy.generator import weights as w
from stylestudy.generator.feedforward import LAYOUTS
from stylestudy.generator.method import Request, RunContext, get
from tests.generator.manifests import DEMO
from tests.generator.stylepairs import one_thread

# a few iterations, from different starting points: every output differs from every other
# (two iterations from the content can round to the same bytes for several methods)
METHODS = [
    {"name": "cnnmrf", "params": {"resolutions": 1, "iterations": 2}},
    {"name": "contextual", "params": {"iterations": 2, "init": "noise"}},
    {"name": "swd", "params": {"steps": 1, "iterations": 2, "init": "mean"}},
    {"name": "adain", "params": {"style_size": 48}},
    {"name": "wct", "params": {"style_size": 48}},
]
LABELS = ["cnnmrf[iterations=2,resolutions=1]",
          "contextual[init=noise,iterations=2]", "swd[init=mean,iterations=2,steps=1]",
          "adain[style_size=48]", "wct[style_size=48]"]

@pytest.fixture(autouse=True)
def _single_thread():
    with one_thread():
        yield


@pytest.fixture
def supplied(tmp_path, weights_dir, monkeypatch):
    """A weights folder with the fetched weights and every supplied network imported from a
    file in the authors' layout (seeded stand-in tensors: the pipeline, not the pictures)."""
    folder = tmp_path / "weights"
    folder.mkdir()
    for f in weights_dir.iterdir():
        if f.is_file():
            (folder / f.name).symlink_to(f)
    torch.manual_seed(0)
    for name, build in LAYOUTS.items():
        net = build()
        for m in net.modules():
            if isinstance(m, torch.nn.Conv2d):  # variance-keeping, so outputs follow inputs
                torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                torch.nn.init.zeros_(m.bias)
        path = tmp_path / f"{name}.pth"
        torch.save(net.state_dict(), path)
        res = CliRunner().invoke(cli, ["weights", "import", name, str(path), "--dir",
                                       str(folder)])
        assert res.exit_code == 0, res.output
    monkeypatch.setenv("STYLESTUDY_WEIGHTS_DIR", str(folder))
    w._VERIFIED.clear()
    return folder


@pytest.mark.slow
def test_every_baseline_generates_and_a_study_accepts_the_set(home, tmp_path, supplied):
    manifest = tmp_path / "baselines.yaml"
    manifest.write_text(yaml.safe_dump({
        "name": "baselines", "size": 48, "seeds": [0],
        "contents": [str(DEMO / "contents" / f"{c}.png") for c in ("coffee", "chelsea")],
        "styles": [str(DEMO / "styles" / "ihc.png")], "methods": METHODS}))
    res = CliRunner().invoke(cli, ["generate", str(manifest), "--no-progress",
                                   "--device", "cpu"])
    assert res.exit_code == 0, res.output
    assert runner.set_counts("baselines")["done"] == 10
    with session_scope() as s:
        gens = runner.set_generations("baselines", s)
        assert sorted({g.method.label for g in gens}) == sorted(LABELS)
        assert len({g.output.sha256 for g in gens}) == 10
        for g in gens:
            assert g.provenance["uncalibrated"] is False
            assert g.output.width == 48
    spec = tmp_path / "study.yaml"
    spec.write_text(yaml.safe_dump({
        "slug": "baselines-study", "comparison_set": "baselines",
        "questions": ["content", "style"], "methods": LABELS, "judgments_per_cell": 2,
        "trials_per_session": 8, "practice_trials": 2, "platform": "link",
        "participant_param": "participant"}))
    res = CliRunner().invoke(cli, ["study", "create", str(spec)])
    assert res.exit_code == 0, res.output
    with session_scope() as s:
        study = s.scalar(select(Study).where(Study.slug == "baselines-study"))
        cells = s.scalars(select(DesignCell).where(DesignCell.study_id == study.id,
                                                   DesignCell.kind == "real")).all()
    assert len(cells) == 10 * 2 * 2  # method pairs × items × questions


@pytest.mark.parametrize("name,params,too_small,smallest", [
    ("contextual", {"iterations": 1}, 10, 12),
    ("swd", {"steps": 1, "iterations": 1}, 20, 24),
    ("adain", {"style_size": 16}, 12, 14),
    ("wct", {"style_size": 24}, 24, 26),
])
def test_too_small_images_get_one_clear_message(name, params, too_small, smallest,
                                                weights_dir, monkeypatch):
    """A size whose deepest map would be empty (or too small to pad) is a UserError naming
    the size, not a torch error; the smallest size that works runs."""
    from stylestudy.errors import UserError

    monkeypatch.setenv("STYLESTUDY_WEIGHTS_DIR", str(weights_dir))
    cls = get(name)
    inst = cls(RunContext(allow_random_weights=True))
    inst.setup()
    rng = np.random.default_rng(0)
    content, style = rng.random((40, 60, 3)), rng.random((50, 50, 3))  # 2:3 content
    with pytest.raises(UserError, match="too small"):
        inst.run(Request(content=content, style=style, seed=0,
                         params=cls.validate_params(params), size=too_small))
    out = inst.run(Request(content=content, style=style, seed=0,
                           params=cls.validate_params(params), size=smallest))
    assert out.shape[:2] == (smallest * 2 // 3, smallest)
