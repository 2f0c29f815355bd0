"""Manifest validation: every mistake is one clear message naming the file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from stylestudy.errors import UserError
from stylestudy.generator import manifest

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
    from stylestudy.generator import method as registry
    from stylestudy.generator.method import Method, Param, register

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


def own(**entry):
    return base(methods=[{"name": "mine", **entry}])


@pytest.mark.parametrize("data, message", [
    (own(command="prog {content} {output}"), "program 'prog' of 'command' not found"),
    (own(command="python {content} {outptu}"), "unknown placeholder {outptu} in 'command'"),
    (own(command="python {content}"), "'command' must name {output}"),
    (own(command="python 'unclosed {output}"), "cannot split 'command' into arguments"),
    (own(command="python {output}", cwd="nowhere"), "'cwd' 'nowhere' is not a folder"),
    (own(command="python {output}", timeout=0), "'timeout' must be a positive number"),
    (own(command="python {output}", env={"A": [1]}), "'env' must map variable names"),
    (own(command="python {output}", shell="yes"), "'shell' must be true or false"),
    (own(command="python {output}", outputs="."), "has both 'command' and 'outputs'"),
    (own(command="python {output}", checkpoint="x"), "unknown key 'checkpoint'"),
    (own(command="python {output} {seed}", params={"seed": 1}), "name of a placeholder"),
    (own(outputs=".", params={"a": [1]}), "parameter 'a' must be a name with a text"),
    (own(outputs=".", version="x" * 33), "'version' must be text of at most 32"),
    (base(methods=[{"name": "reinhard", "outputs": "."}]), "'reinhard' is the name of an "
                                                           "installed method"),
    (base(methods=[{"name": "reinhard", "version": "2"}]), "unknown key 'version' (allowed: "
     "checkpoint, label, name, params, sweep) (a method of your own needs 'outputs' or "
     "'command')"),
])
def test_bad_own_methods(tmp_path, data, message):
    with pytest.raises(UserError) as err:
        manifest.load(write(tmp_path, data))
    assert message in err.value.message


def test_command_entry(tmp_path):
    import sys

    (tmp_path / "tool").mkdir()
    m = manifest.load(write(tmp_path, own(
        command=f"{sys.executable} run.py --in {{content}} --out {{output}} --a {{alpha}}",
        cwd="tool", env={"N": 3}, timeout=5, version=2, sweep={"alpha": [1, 2]})))
    first, second = m.conditions
    assert (first.label, first.version, first.source) == ("mine[alpha=1]", "2", "command")
    assert first.command.cwd == str(tmp_path / "tool") and first.command.env == {"N": "3"}
    assert first.command.timeout == 5.0 and first.params == {"alpha": 1}
    assert first.params_hash != second.params_hash
    # cwd, env and timeout do not change what the condition is; the command line does
    again = manifest.load(write(tmp_path, own(
        command=f"{sys.executable} run.py --in {{content}} --out {{output}} --a {{alpha}}",
        sweep={"alpha": [1]}, version=2)))
    assert again.conditions[0].params_hash == first.params_hash
    other = manifest.load(write(tmp_path, own(
        command=f"{sys.executable} run.py --in {{content}} --out {{output}} --b {{alpha}}",
        sweep={"alpha": [1]}, version=2)))
    assert other.conditions[0].params_hash != first.params_hash
