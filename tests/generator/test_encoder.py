"""The shared VGG encoder: layer names, one forward for several taps, conventions, helpers."""

from __future__ import annotations

import copy
import functools

import pytest
import torch
import torchvision
from torch import nn

from stylestudy.generator.encoder import Encoder, covariance, gram, layer_names
from tests.generator.stylepairs import one_thread


@pytest.fixture(autouse=True)
def _single_thread():
    with one_thread():
        yield


@pytest.mark.parametrize("arch", ["vgg16", "vgg19"])
def test_layer_names_follow_torchvision_modules(arch):
    feats = getattr(torchvision.models, arch)(weights=None).features
    names = layer_names(arch)
    assert len(names) == len(feats)
    kinds = {nn.Conv2d: "conv", nn.ReLU: "relu", nn.MaxPool2d: "pool"}
    assert [kinds[type(m)] for m in feats] == [n.rstrip("_0123456789") for n in names]


@functools.cache
def _vgg16_once():
    torch.manual_seed(0)
    return torchvision.models.vgg16(weights=None).features.eval().requires_grad_(False)


def _vgg16():
    """A fresh copy of one seeded VGG16 trunk (building the full model once is the cost)."""
    return copy.deepcopy(_vgg16_once())


def test_taps_equal_a_plain_forward_and_the_trunk_is_truncated():
    feats = _vgg16()
    enc = Encoder(feats, "vgg16", "torchvision", ("relu2_1", "conv1_2", "relu3_1"))
    assert len(enc.layers) == layer_names("vgg16").index("relu3_1") + 1
    x = torch.rand(1, 3, 20, 24)
    out = enc(x)
    assert list(out) == ["relu2_1", "conv1_2", "relu3_1"]  # in the order asked for
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    h, names = (x - mean) / std, layer_names("vgg16")
    want = {}
    for name, layer in zip(names, _vgg16(), strict=False):
        h = layer(h)
        want[name] = h
        if name == "relu3_1":
            break
    for k, v in out.items():
        assert torch.equal(v, want[k])


def test_caffe_convention_and_options():
    enc = Encoder(_vgg16(), "vgg16", "caffe", ("relu1_1",), pixel_scale=256.0,
                  pooling="avg", padding="reflect")
    x = torch.zeros(1, 3, 2, 2)
    x[0, 0] = 1.0  # pure red → BGR channel 2 at 256, minus the Caffe mean
    got = enc.prepare(x)[0, :, 0, 0].tolist()
    assert got == pytest.approx([-103.939, -116.779, 256 - 123.68])
    enc2 = Encoder(_vgg16(), "vgg16", "torchvision", ("pool1",), pooling="avg",
                   padding="reflect")
    assert isinstance(enc2.layers[-1], nn.AvgPool2d)
    assert enc2.layers[0].padding_mode == "reflect"
    with pytest.raises(ValueError, match="relu9_1"):
        Encoder(_vgg16(), "vgg16", "torchvision", ("relu9_1",))


def test_gram_and_covariance_hand_cases():
    f = torch.tensor([[1.0, 2.0], [0.0, 1.0]])
    assert gram(f).tolist() == [[5.0, 2.0], [2.0, 1.0]]
    assert gram(f[None, None]).shape == (1, 1, 2, 2)
    x = torch.tensor([[0.0, 0.0], [2.0, 2.0]])  # mean (1, 1), deviations ±1
    assert covariance(x).tolist() == [[1.0, 1.0], [1.0, 1.0]]
    assert covariance(x, unbiased=True).tolist() == [[2.0, 2.0], [2.0, 2.0]]
