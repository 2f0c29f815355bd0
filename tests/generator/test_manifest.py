"""Manifest validation: every mistake is one clear message naming the file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from generator import manifest
from stylestudy.errors import UserError

DEMO = Path(__file__).resolve().parents[2] / "stylestudy" / "demo_data"


def write(tmp_path, data) -> Path:
    path = tmp_path / "m.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


def base(**over):
    m = {"name": "s", "size": 32, "contents": [str(DEMO / "contents")],
         "styles": [str(DEMO / "styles" / "ihc.png")], "methods": ["reinhard"]}
    m.update(over)
    return m


def test_valid_manifest_expands_pairs_conditions_and_seeds(tmp_path):
    m = manifest.load(write(tmp_path, base(
        seeds=[1, 0, 1], methods=["reinhard", {"name": "content-copy", "label": "copy"}])))
    assert len(m.contents) == 3 and len(m.pairs) == 3 and m.seeds == [0, 1]
    assert [c.label for c in m.conditions] == ["reinhard", "copy"]
    assert m.n_generations == 3 * 2 * 2


@pytest.mark.parametrize("data, message", [
    ("name: [unclosed", "not valid YAML"),
    ("- a list", "must be a YAML mapping"),
    (base(name=""), "'name'"),
    (base(size=0), "'size' must be"),
    (base(size="big"), "'size' must be"),
    (base(seeds=[-1]), "'seeds'"),
    (base(contents=[]), "'contents' must be a non-empty list"),
    (base(contents=["nope.png"]), "'nope.png' does not exist"),
    (base(methods=["no-such-method"]), "unknown method 'no-such-method'"),
    (base(methods=[{"name": "reinhard", "params": {"alpha": 1}}]), "has no parameter 'alpha'"),
    (base(methods=[{"name": "reinhard", "colour": 1}]), "unknown key 'colour'"),
    (base(methods=["reinhard", "reinhard"]), "the label 'reinhard'"),
    (base(pairs=[["astronaut.png", "missing.png"]]), "'missing.png' is not among"),
    (base(extra=1), "unknown key 'extra'"),
])
def test_bad_manifests(tmp_path, data, message):
    path = write(tmp_path, data)
    with pytest.raises(UserError) as err:
        manifest.load(path)
    assert message in err.value.message


def test_missing_manifest(tmp_path):
    with pytest.raises(UserError, match="manifest not found"):
        manifest.load(tmp_path / "absent.yaml")


def test_sweep_labels(tmp_path):
    from generator import method as registry
    from generator.method import Method, Param, register

    @register
    class Sweepable(Method):
        name, version, kind = "test-sweepable", "1", "control"
        params = {"w": Param(float, 1.0)}

        def run(self, request):
            return request.content

    try:
        m = manifest.load(write(tmp_path, base(methods=[
            {"name": "test-sweepable", "sweep": {"w": [0.5, 1.0, 2]}},
            {"name": "test-sweepable", "label": "S", "params": {"w": 3}}])))
        assert [c.label for c in m.conditions] == [
            "test-sweepable[w=0.5]", "test-sweepable", "test-sweepable[w=2.0]", "S"]
        assert len({c.params_hash for c in m.conditions}) == 4
    finally:
        registry._REGISTRY.pop("test-sweepable")


@pytest.mark.parametrize("guides, message", [
    ({"content": "astronaut.png"}, "needs 'content' and 'style'"),
    ({"content": "astronaut.png", "style": "nope.png"}, "is not a pair of this manifest"),
    ({"content": "astronaut.png", "style": "ihc.png"}, "names no guide image"),
    ({"content": "astronaut.png", "style": "ihc.png", "content_regions": "x.png"},
     "content_regions 'x.png' does not exist"),
    ({"content": "astronaut.png", "style": "ihc.png", "masks": "x.png"}, "unknown key 'masks'"),
])
def test_bad_guides(tmp_path, guides, message):
    with pytest.raises(UserError) as err:
        manifest.load(write(tmp_path, base(guides=[guides])))
    assert message in err.value.message
