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
