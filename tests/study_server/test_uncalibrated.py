"""Outputs made with random (uncalibrated) weights never enter a study: `study create`
refuses the set in one line that names the method."""

from __future__ import annotations

import yaml
from click.testing import CliRunner
from study_helpers import spec

from stylestudy.cli import cli
from stylestudy.generator import weights as w
from tests.generator.manifests import DEMO


def test_study_create_refuses_outputs_of_random_weights(home, tmp_path, monkeypatch):
    empty = tmp_path / "no-weights"
    empty.mkdir()
    monkeypatch.setenv("STYLESTUDY_WEIGHTS_DIR", str(empty))
    monkeypatch.setenv("TORCH_HOME", str(empty))
    w._VERIFIED.clear()
    manifest = tmp_path / "set1.yaml"
    manifest.write_text(yaml.safe_dump({
        "name": "set1", "size": 32, "seeds": [0],
        "contents": [str(DEMO / "contents" / "coffee.png")],
        "styles": [str(DEMO / "styles" / "ihc.png")],
        "methods": [{"name": "reinhard"}, {"name": "content-copy"},
                    {"name": "adain", "params": {"style_size": 32}}]}))
    res = CliRunner().invoke(cli, ["generate", str(manifest), "--no-progress", "--device", "cpu",
                                   "--allow-random-weights"])
    assert res.exit_code == 0, res.output
    spec_file = tmp_path / "study.yaml"
    spec_file.write_text(yaml.safe_dump(spec(catch_rate=0, min_catch_trials=0)))
    res = CliRunner().invoke(cli, ["study", "create", str(spec_file)])
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and "uncalibrated" in lines[0] and "adain" in lines[0], res.output
    assert "reinhard" not in lines[0]
    # without the method made with random weights the same set is accepted
    spec_file.write_text(yaml.safe_dump(spec(catch_rate=0, min_catch_trials=0,
                                             methods=["reinhard", "content-copy"])))
    res = CliRunner().invoke(cli, ["study", "create", str(spec_file)])
    assert res.exit_code == 0, res.output
