"""Finding and verifying weight files: one check per kind of file, one record per file."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np

from stylestudy.errors import UserError
from stylestudy.generator.weights.registry import (
    REGISTRY,
    WeightsInvalid,
    WeightsMissing,
    WeightSpec,
    _candidates,
    _missing,
    _spec,
    search_dirs,
)

__all__ = ["file_sha256", "load_state_dict", "read_supplied", "resolve_file", "status",
           "tensor_sha256", "verify_file"]


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


# ---------------------------------------------------------------- verification

#: verified files: (path, size, mtime, weight, explicit) → (tensors or None, record)
_VERIFIED: dict[tuple[str, int, int, str, bool], tuple[Any, dict[str, Any]]] = {}


def verify_file(spec: WeightSpec, path: Path, explicit: bool = False
                ) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """Check ``path`` as weight ``spec`` and load its tensors (None for a non-torch file).

    ``explicit``: the user named this file, so it may carry another name (an authors' file
    of a supplied weight, or a known file renamed). Returns ``(tensors, record)``; the record
    has name, path, sha256, source, calibrated and convention. Cached per file version.
    """
    import torch

    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, spec.name, explicit)
    if key not in _VERIFIED:
        sd, found = _check(spec, path, explicit)
        record = {"name": spec.name, "path": str(path), "calibrated": True,
                  "convention": spec.convention, **found}
        if sd is not None:
            sd = {k: v for k, v in sd.items() if isinstance(v, torch.Tensor)}
        _VERIFIED[key] = (sd, record)
    sd, record = _VERIFIED[key]
    return (dict(sd) if sd is not None else None), dict(record)


def _check(spec: WeightSpec, path: Path, explicit: bool
           ) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The file's tensors (or None) and what the record says of its hash and source."""
    if explicit and path.name not in (spec.stored, spec.torchvision):
        if spec.supplied:  # the authors' file itself
            return read_supplied(spec, path), {
                "sha256": file_sha256(path), "source": f"supplied: {path.name}",
                "verified": "keys and shapes (no published hash)"}
        return _check_renamed(spec, path)
    if spec.torchvision and path.name == spec.torchvision:
        digest = file_sha256(path)
        if not digest.startswith(spec.torchvision_prefix or ""):
            raise WeightsInvalid(f"{path}: SHA-256 {digest[:8]}… does not match "
                                 f"torchvision's {spec.torchvision_prefix}; delete it and run "
                                 f"`stylestudy weights fetch {spec.name}`")
        sd = _torch_load(path) if spec.kind == "state_dict" else None
        return sd, {"sha256": digest, "source": f"torchvision {spec.torchvision}"}
    if spec.supplied:  # stored by `weights import NAME FILE`, with its origin beside
        sd = _torch_load(path)
        tensors = _check_layout(spec, {k: v for k, v in sd.items() if hasattr(v, "detach")},
                                path)
        return sd, {"sha256": tensor_sha256(tensors), "sha256_of": "tensors",
                    "verified": "keys and shapes (no published hash)",
                    "source": f"supplied: {sd.get('_source_file')} "
                              f"(SHA-256 {sd.get('_source_sha256')})"}
    source = spec.source.requirement if spec.source else "file"
    if spec.kind == "state_dict":
        sd = _torch_load(path)
        digest = tensor_sha256(sd)
        if digest != spec.sha256:
            raise WeightsInvalid(f"{path}: tensor SHA-256 {digest[:12]}… does not match the "
                                 f"recorded {spec.sha256[:12]}… for {spec.name!r}; delete it "
                                 f"and run `stylestudy weights fetch {spec.name}`")
        return sd, {"sha256": digest, "sha256_of": "tensors", "source": source}
    digest = file_sha256(path)
    if digest != spec.sha256:
        raise WeightsInvalid(f"{path}: SHA-256 {digest[:12]}… does not match the recorded "
                             f"{spec.sha256[:12]}… for {spec.name!r}")
    return None, {"sha256": digest, "source": source}


def _check_renamed(spec: WeightSpec, path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """A file under another name: accepted if its tensors or its bytes match."""
    sd = _torch_load(path)
    digest = tensor_sha256({k: v for k, v in sd.items() if hasattr(v, "detach")})
    if digest == spec.sha256:
        return sd, {"sha256": digest, "sha256_of": "tensors", "source": "file"}
    fdigest = file_sha256(path)
    if spec.torchvision_prefix and fdigest.startswith(spec.torchvision_prefix):
        return sd, {"sha256": fdigest, "source": f"torchvision {spec.torchvision}"}
    raise WeightsInvalid(f"{path}: its SHA-256 matches no known file for {spec.name!r}")


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
    return verify_file(spec, p, explicit=path is not None)


def resolve_file(name: str, path: str | os.PathLike | None = None,
                 weights_dir: str | os.PathLike | None = None) -> tuple[Path, dict[str, Any]]:
    """Find and verify a non-state-dict weight file (e.g. ONNX); returns (path, record)."""
    spec = _spec(name)
    p = _resolve(spec, path, weights_dir)
    if p is None:
        raise _missing(spec, search_dirs(weights_dir))
    return p, verify_file(spec, p)[1]


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
                _, rec = verify_file(spec, found[0])
                row.update(verified=True, sha256=rec["sha256"], source=rec["source"])
            except WeightsInvalid as exc:
                row["error"] = str(exc)
        rows.append(row)
    return rows

