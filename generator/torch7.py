"""A reader for Torch7 ``.t7`` files (binary format of ``torch.save`` in Lua Torch) that
returns the weights of an ``nn.Sequential`` by module index.

Only data is read: numbers, strings, booleans, tables, tensors and storages, and Torch
objects whose fields are plain tables (``nn.*``, ``cudnn.*`` modules). Serialised Lua
functions are refused. Format (``torch/File.lua``): every object starts with an int32 type
(0 nil, 1 number, 2 string, 3 table, 4 torch object, 5 boolean, 6–8 functions); tables and
objects carry an int32 reference index so shared objects are read once; a torch object has
a version string ``"V 1"`` and its class name; a tensor has its dimension count, sizes and
strides (int64), a 1-based storage offset (int64) and its storage; a storage has its
length (int64) and raw little-endian data.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["T7Error", "TorchObject", "read_t7", "sequential_state_dict"]

_STORAGE_DTYPES = {
    "torch.FloatStorage": np.float32, "torch.CudaStorage": np.float32,
    "torch.DoubleStorage": np.float64, "torch.CudaDoubleStorage": np.float64,
    "torch.LongStorage": np.int64, "torch.IntStorage": np.int32,
    "torch.ShortStorage": np.int16, "torch.CharStorage": np.int8,
    "torch.ByteStorage": np.uint8, "torch.HalfStorage": np.float16,
    "torch.CudaHalfStorage": np.float16,
}
_TENSORS = {name.replace("Storage", "Tensor") for name in _STORAGE_DTYPES}
_MAX_ELEMENTS = 1 << 31


class T7Error(ValueError):
    """Not a Torch7 file of the supported kind."""


@dataclass
class TorchObject:
    """A Torch class instance: its class name and its fields."""

    class_name: str
    fields: dict[Any, Any] = field(default_factory=dict)


class _Reader:
    def __init__(self, data: bytes):
        self.f = io.BytesIO(data)
        self.memo: dict[int, Any] = {}

    def _take(self, n: int) -> bytes:
        b = self.f.read(n)
        if len(b) != n:
            raise T7Error("truncated file")
        return b

    def int(self) -> int:
        return struct.unpack("<i", self._take(4))[0]

    def long(self) -> int:
        return struct.unpack("<q", self._take(8))[0]

    def string(self) -> str:
        n = self.int()
        if n < 0 or n > 1 << 20:
            raise T7Error("bad string length")
        return self._take(n).decode("latin-1")

    def obj(self) -> Any:
        kind = self.int()
        if kind == 0:
            return None
        if kind == 1:
            return struct.unpack("<d", self._take(8))[0]
        if kind == 2:
            return self.string()
        if kind == 5:
            return self.int() == 1
        if kind in (6, 7, 8):
            raise T7Error("the file contains serialised Lua functions; refused")
        if kind not in (3, 4):
            raise T7Error(f"unknown object type {kind}")
        ref = self.int()
        if ref in self.memo:
            return self.memo[ref]
        if kind == 3:
            table: dict[Any, Any] = {}
            self.memo[ref] = table
            for _ in range(self._count()):
                key = self.obj()
                table[key] = self.obj()
            return table
        version = self.string()
        name = self.string() if version.startswith("V ") else version
        if name in _STORAGE_DTYPES:
            value = self._storage(name)
        elif name in _TENSORS:
            value = self._tensor()
        elif name.startswith(("nn.", "cudnn.")):
            value = TorchObject(name)
            self.memo[ref] = value
            fields = self.obj()
            if not isinstance(fields, dict):
                raise T7Error(f"{name}: fields are not a table")
            value.fields = fields
        else:
            raise T7Error(f"unsupported class {name!r}")
        self.memo[ref] = value
        return value

    def _count(self) -> int:
        n = self.int()
        if n < 0 or n > 1 << 24:
            raise T7Error("bad table size")
        return n

    def _storage(self, name: str) -> np.ndarray:
        n = self.long()
        dtype = np.dtype(_STORAGE_DTYPES[name]).newbyteorder("<")
        if n < 0 or n > _MAX_ELEMENTS:
            raise T7Error("bad storage size")
        return np.frombuffer(self._take(n * dtype.itemsize), dtype=dtype).astype(
            dtype.newbyteorder("="))

    def _tensor(self) -> np.ndarray:
        ndim = self.int()
        if ndim < 0 or ndim > 8:
            raise T7Error("bad tensor rank")
        sizes = [self.long() for _ in range(ndim)]
        strides = [self.long() for _ in range(ndim)]
        offset = self.long() - 1
        storage = self.obj()
        if ndim == 0 or storage is None:
            return np.zeros([0], np.float32)
        if not isinstance(storage, np.ndarray):
            raise T7Error("tensor without a storage")
        if any(s < 0 for s in sizes) or any(s < 0 for s in strides) or offset < 0:
            raise T7Error("bad tensor geometry")
        last = offset + sum((n - 1) * s for n, s in zip(sizes, strides, strict=True))
        if min(sizes) > 0 and last >= storage.size:
            raise T7Error("tensor reaches past its storage")
        if min(sizes) == 0:
            return np.zeros(sizes, storage.dtype)
        item = storage.itemsize
        return np.lib.stride_tricks.as_strided(
            storage[offset:], shape=sizes, strides=[s * item for s in strides]).copy()


def read_t7(path: str | Path) -> Any:
    """The object stored in a binary ``.t7`` file (tensors as numpy arrays)."""
    data = Path(path).read_bytes()
    try:
        return _Reader(data).obj()
    except (struct.error, UnicodeDecodeError, ValueError) as exc:
        if isinstance(exc, T7Error):
            raise
        raise T7Error(str(exc)) from None


def sequential_state_dict(obj: Any) -> dict[str, np.ndarray]:
    """``{"<i>.weight", "<i>.bias"}`` of an ``nn.Sequential`` (i = 0-based module index),
    as torch's ``nn.Sequential.state_dict`` names them. 2-D convolution weights (old
    ``SpatialConvolutionMM``) are reshaped to (out, in, kH, kW)."""
    if not isinstance(obj, TorchObject) or not obj.class_name.endswith("Sequential"):
        raise T7Error("not an nn.Sequential")
    modules = obj.fields.get("modules")
    if not isinstance(modules, dict):
        raise T7Error("nn.Sequential without modules")
    out: dict[str, np.ndarray] = {}
    for key in sorted(modules):
        m = modules[key]
        if not isinstance(m, TorchObject):
            raise T7Error(f"module {key} is not a Torch object")
        i = int(key) - 1
        w, b = m.fields.get("weight"), m.fields.get("bias")
        if isinstance(w, np.ndarray) and w.size:
            if w.ndim == 2 and "kH" in m.fields:
                w = w.reshape(w.shape[0], int(m.fields["nInputPlane"]), int(m.fields["kH"]),
                              int(m.fields["kW"]))
            out[f"{i}.weight"] = w
        if isinstance(b, np.ndarray) and b.size:
            out[f"{i}.bias"] = b
    return out
