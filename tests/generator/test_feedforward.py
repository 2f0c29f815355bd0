"""AdaIN and WCT: the networks' state-dict layouts equal the authors' published definitions,
their files (Torch7 .t7 and the PyTorch port's .pth) import unchanged, the transforms match
the papers' equations, and nothing runs on missing weights unless random ones are allowed."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from stylestudy.cli import cli
from stylestudy.generator import weights as w
from stylestudy.generator.feedforward import decoder, layout
from stylestudy.generator.method import Request, RunContext, get
from stylestudy.generator.methods.adain import adain
from stylestudy.generator.methods.wct import wct
from tests.generator.stylepairs import one_thread


@pytest.fixture(autouse=True)
def _single_thread():
    with one_thread():
        yield


def _conv(cout, cin, k=3):
    return {"weight": (cout, cin, k, k), "bias": (cout,)}


def _keys(convs):
    return {f"{i}.{p}": s for i, shapes in convs.items() for p, s in shapes.items()}


# Written from the authors' definitions: naoto0804/pytorch-AdaIN net.py (`vgg`, `decoder`,
# the layout of the released vgg_normalised.pth / decoder.pth, converted from the authors'
# .t7 files) and sunshineatnoon/PytorchWCT modelsNIPS.py (the module indices each encoderN /
# decoderN reads from the authors' vgg_normalised_convN_1.t7 / feature_invertor_convN_1.t7).
VGG = {0: _conv(3, 3, 1), 2: _conv(64, 3), 5: _conv(64, 64), 9: _conv(128, 64),
       12: _conv(128, 128), 16: _conv(256, 128), 19: _conv(256, 256), 22: _conv(256, 256),
       25: _conv(256, 256), 29: _conv(512, 256), 32: _conv(512, 512), 35: _conv(512, 512),
       38: _conv(512, 512), 42: _conv(512, 512), 45: _conv(512, 512), 48: _conv(512, 512),
       51: _conv(512, 512)}
ADAIN_DECODER = {1: _conv(256, 512), 5: _conv(256, 256), 8: _conv(256, 256),
                 11: _conv(256, 256), 14: _conv(128, 256), 18: _conv(128, 128),
                 21: _conv(64, 128), 25: _conv(64, 64), 28: _conv(3, 64)}
WCT_ENCODER_LAST = {1: 2, 2: 9, 3: 16, 4: 29, 5: 42}
WCT_DECODERS = {
    1: {1: _conv(3, 64)},
    2: {1: _conv(64, 128), 5: _conv(64, 64), 8: _conv(3, 64)},
    3: {1: _conv(128, 256), 5: _conv(128, 128), 8: _conv(64, 128), 12: _conv(64, 64),
        15: _conv(3, 64)},
    4: ADAIN_DECODER,
    5: {1: _conv(512, 512), 5: _conv(512, 512), 8: _conv(512, 512), 11: _conv(512, 512),
        14: _conv(256, 512), 18: _conv(256, 256), 21: _conv(256, 256), 24: _conv(256, 256),
        27: _conv(128, 256), 31: _conv(128, 128), 34: _conv(64, 128), 38: _conv(64, 64),
        41: _conv(3, 64)},
}


def test_layouts_equal_the_authors_definitions():
    assert layout("adain-vgg") == _keys(VGG)
    assert layout("adain-decoder") == _keys(ADAIN_DECODER)
    for k, last in WCT_ENCODER_LAST.items():
        assert layout(f"wct-vgg{k}") == _keys({i: s for i, s in VGG.items() if i <= last})
        assert layout(f"wct-decoder{k}") == _keys(WCT_DECODERS[k])


class _T7:
    """A minimal Torch7 binary writer (torch/File.lua format) for test files."""

    def __init__(self):
        self.out, self.ref = io.BytesIO(), 0

    def _i(self, v):
        self.out.write(struct.pack("<i", v))

    def _l(self, v):
        self.out.write(struct.pack("<q", v))

    def _s(self, s):
        self._i(len(s))
        self.out.write(s.encode())

    def _head(self, kind, cls=None):
        self._i(kind)
        self.ref += 1
        self._i(self.ref)
        if cls:
            self._s("V 1")
            self._s(cls)

    def obj(self, o):
        if o is None:
            self._i(0)
        elif isinstance(o, bool):
            self._i(5)
            self._i(int(o))
        elif isinstance(o, int | float):
            self._i(1)
            self.out.write(struct.pack("<d", o))
        elif isinstance(o, str):
            self._i(2)
            self._s(o)
        elif isinstance(o, np.ndarray):
            a = np.ascontiguousarray(o, np.float32)
            self._head(4, "torch.FloatTensor")
            self._i(a.ndim)
            for n in a.shape:
                self._l(n)
            for s in a.strides:
                self._l(s // 4)
            self._l(1)
            self._head(4, "torch.FloatStorage")
            self._l(a.size)
            self.out.write(a.tobytes())
        elif isinstance(o, tuple):  # (class name, fields)
            self._head(4, o[0])
            self.obj(o[1])
        elif callable(o):
            self._i(6)
        else:
            self._head(3)
            self._i(len(o))
            for k, v in o.items():
                self.obj(k)
                self.obj(v)

    def sequential(self, modules):
        self.obj(("nn.Sequential", {"modules": {float(i + 1): m for i, m in
                                                enumerate(modules)}, "train": False}))
        return self.out.getvalue()


def _decoder1_t7(weight, bias, conv_class="cudnn.SpatialConvolution"):
    pad = ("nn.SpatialReflectionPadding", {"pad_l": 1.0, "pad_r": 1.0, "pad_t": 1.0,
                                           "pad_b": 1.0})
    conv = (conv_class, {"weight": weight, "bias": bias, "nInputPlane": 64.0,
                         "nOutputPlane": 3.0, "kH": 3.0, "kW": 3.0, "gradWeight": None})
    return _T7().sequential([pad, conv])


def _import(tmp_path, *args):
    return CliRunner().invoke(cli, ["weights", "import", *args, "--dir", str(tmp_path / "w")])


@pytest.mark.parametrize("two_d", [False, True])
def test_t7_file_imports_unchanged(tmp_path, two_d):
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((3, 64, 3, 3)).astype(np.float32)
    bias = rng.standard_normal(3).astype(np.float32)
    stored = weight.reshape(3, -1) if two_d else weight  # old SpatialConvolutionMM layout
    f = tmp_path / "feature_invertor_conv1_1.t7"
    f.write_bytes(_decoder1_t7(stored, bias))
    res = _import(tmp_path, "wct-decoder1", str(f))
    assert res.exit_code == 0, res.output
    w._VERIFIED.clear()
    sd, rec = w.load_state_dict("wct-decoder1", weights_dir=str(tmp_path / "w"))
    assert np.array_equal(sd["1.weight"].numpy(), weight)
    assert np.array_equal(sd["1.bias"].numpy(), bias)
    assert rec["calibrated"] is True and "feature_invertor_conv1_1.t7" in rec["source"]
    assert w.file_sha256(f) in rec["source"]


def test_bad_files_are_refused_with_one_message(tmp_path):
    bad = tmp_path / "decoder.t7"
    rng = np.random.default_rng(1)
    bad.write_bytes(_decoder1_t7(rng.standard_normal((3, 64, 3, 3)), np.zeros(3)))
    res = _import(tmp_path, "adain-decoder", str(bad))  # a WCT decoder1 is not AdaIN's
    assert res.exit_code == 2 and "lacks 5.bias (256,)" in res.output
    assert "not a adain-decoder file" in res.output and "Traceback" not in res.output
    fn = tmp_path / "evil.t7"
    fn.write_bytes(_T7().sequential([("nn.ReLU", {"f": print})]))
    res = _import(tmp_path, "wct-decoder1", str(fn))
    assert res.exit_code == 2 and "functions" in res.output
    garbage = tmp_path / "x.t7"
    garbage.write_bytes(b"\x04\x00\x00")
    assert _import(tmp_path, "wct-decoder1", str(garbage)).exit_code == 2
    assert _import(tmp_path, "no-such-weights", str(garbage)).exit_code == 2
    assert not (tmp_path / "w" / "wct-feature_invertor_conv1_1.pt").exists()


def test_adain_equation_against_loops():
    g = torch.Generator().manual_seed(0)
    fc = torch.rand(1, 3, 4, 5, generator=g, dtype=torch.float64)
    fs = torch.rand(1, 3, 6, 2, generator=g, dtype=torch.float64) * 3
    got = adain(fc, fs).numpy()
    for c in range(3):
        x, y = fc[0, c].numpy(), fs[0, c].numpy()
        want = (x - x.mean()) / np.sqrt(x.var() + 1e-5) * y.std() + y.mean()
        np.testing.assert_allclose(got[0, c], want, rtol=1e-5)


def test_wct_colours_with_the_style_statistics():
    g = torch.Generator().manual_seed(0)
    fc = torch.rand(1, 4, 6, 7, generator=g, dtype=torch.float64)
    mix = torch.rand(4, 4, generator=g, dtype=torch.float64)
    fs = (mix @ torch.rand(4, 40, generator=g, dtype=torch.float64)).reshape(1, 4, 5, 8)
    out = wct(fc, fs)[0].reshape(4, -1).numpy()
    s = fs[0].reshape(4, -1).numpy()
    np.testing.assert_allclose(out.mean(1), s.mean(1), rtol=1e-5)
    np.testing.assert_allclose(np.cov(out), np.cov(s), rtol=1e-5, atol=1e-10)
    # whitening alone: E_c D_c^-1/2 E_c^T (x - m) has identity covariance
    x = fc[0].reshape(4, -1).numpy()
    e, v = np.linalg.eigh(np.cov(x))
    white = v @ np.diag(e ** -0.5) @ v.T @ (x - x.mean(1, keepdims=True))
    es, vs = np.linalg.eigh(np.cov(s))
    want = vs @ np.diag(es ** 0.5) @ vs.T @ white + s.mean(1, keepdims=True)
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-9)


def test_methods_refuse_missing_weights_and_label_random_ones(tmp_path, monkeypatch):
    from stylestudy.generator.weights import WeightsMissing

    monkeypatch.setenv("STYLESTUDY_WEIGHTS_DIR", str(tmp_path / "none"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    w._VERIFIED.clear()
    listing = CliRunner().invoke(cli, ["methods"]).output
    for name in ("adain", "wct", "cnnmrf", "contextual", "swd"):
        assert f"\n{name} " in listing
    assert all("weights you supply" in line for line in listing.splitlines()
               if line.startswith(("adain ", "wct ")))
    rng = np.random.default_rng(0)
    content, style = rng.random((24, 32, 3)), rng.random((40, 40, 3))
    for name in ("adain", "wct"):
        cls = get(name)
        with pytest.raises(WeightsMissing, match=f"weights import {name}-"):
            cls(RunContext()).setup()
        inst = cls(RunContext(allow_random_weights=True))
        inst.setup()
        params = cls.validate_params({"style_size": 32})
        res = inst.generate(Request(content=content, style=style, seed=0, params=params,
                                    size=32))
        again = inst.generate(Request(content=content, style=style, seed=0, params=params,
                                      size=32))
        assert res.image.shape == (24, 32, 3) and np.array_equal(res.image, again.image)
        assert "UNCALIBRATED" in res.provenance[name]["weights"]
        assert not any(r["calibrated"] for r in inst.ctx.weights_used.values())


def test_adain_runs_on_imported_pth_files(tmp_path, monkeypatch):
    """The PyTorch port's file layout (keys "N.weight") imports and drives the method."""
    monkeypatch.setenv("STYLESTUDY_WEIGHTS_DIR", str(tmp_path / "w"))
    w._VERIFIED.clear()
    torch.manual_seed(0)
    from stylestudy.generator.feedforward import encoder

    for name, net, fname in (("adain-vgg", encoder("relu5_4"), "vgg_normalised.pth"),
                             ("adain-decoder", decoder("relu4_1"), "decoder.pth")):
        torch.save(net.state_dict(), tmp_path / fname)
        assert _import(tmp_path, name, str(tmp_path / fname)).exit_code == 0
    cls = get("adain")
    inst = cls(RunContext())
    inst.setup()
    rng = np.random.default_rng(0)
    content, style = rng.random((24, 32, 3)), rng.random((30, 30, 3))
    params = cls.validate_params({"alpha": 0.5, "style_size": 32})
    a = inst.run(Request(content=content, style=style, seed=0, params=params, size=32))
    b = inst.run(Request(content=content, style=style, seed=9, params=params, size=32))
    assert a.shape == (24, 32, 3) and np.array_equal(a, b)
    assert all(r["calibrated"] for r in inst.ctx.weights_used.values())
    assert "authors'" in inst.provenance()["adain"]["weights"]
