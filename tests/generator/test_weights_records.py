"""One verification path: every way a weight is found gives a record of the same form."""

from __future__ import annotations

import shutil

import pytest

from stylestudy.generator import weights as w

#: what every record of a verified file says
KEYS = {"name", "path", "sha256", "source", "calibrated", "convention"}


@pytest.fixture(autouse=True)
def fresh_cache():
    w._VERIFIED.clear()
    yield
    w._VERIFIED.clear()


def test_records_of_every_path_have_the_same_form(use_weights, tmp_path):
    stored = use_weights / w.REGISTRY["vgg16"].stored
    renamed = tmp_path / "my-vgg16.pt"
    shutil.copyfile(stored, renamed)
    onnx = use_weights / w.REGISTRY["magenta-transform"].stored
    records = {
        "stored": w.load_state_dict("vgg16")[1],
        "renamed": w.load_state_dict("vgg16", path=renamed)[1],
        "file": w.resolve_file("magenta-transform")[1],
        "verify_file": w.verify_file(w.REGISTRY["magenta-transform"], onnx)[1],
    }
    for how, rec in records.items():
        assert set(rec) >= KEYS, (how, sorted(KEYS - set(rec)))
        assert rec["calibrated"] is True, how
    assert records["renamed"]["path"] == str(renamed)
    assert records["renamed"]["sha256"] == records["stored"]["sha256"]
    assert records["file"] == records["verify_file"]
    rows = {r["name"]: r for r in w.status()}
    assert rows["vgg16"]["sha256"] == records["stored"]["sha256"]
    assert rows["magenta-transform"]["sha256"] == records["file"]["sha256"]


def test_a_cached_record_is_a_copy(use_weights):
    _, first = w.load_state_dict("vgg16")
    first["sha256"] = "changed by the caller"
    assert w.load_state_dict("vgg16")[1]["sha256"] != "changed by the caller"


def test_run_context_encoder_follows_the_weight_policy(tmp_path, monkeypatch):
    """`RunContext.encoder`: missing weights are refused unless the context allows random
    ones; what it loads is frozen and recorded, random weights as uncalibrated."""
    from stylestudy.errors import UserError
    from stylestudy.generator.method import RunContext

    monkeypatch.setenv("STYLESTUDY_WEIGHTS_DIR", str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "hub"))
    strict = RunContext(weights_dir=str(tmp_path))
    with pytest.raises(UserError):
        strict.encoder("vgg19-caffe-q8", ("relu1_1",))
    assert strict.weights_used == {}
    lax = RunContext(weights_dir=str(tmp_path), allow_random_weights=True)
    enc = lax.encoder("vgg19-caffe-q8", ("relu1_1", "relu2_1"), pooling="avg")
    assert lax.weights_used["vgg19-caffe-q8"]["calibrated"] is False
    assert not any(p.requires_grad for p in enc.parameters()) and not enc.training
