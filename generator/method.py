"""The method interface: parameters, requests, results and the registry.

A method is a class registered under a stable ``name`` with a ``version``. It declares what
it needs (pretrained weights by name, a trained checkpoint, a GPU preference) and turns one
:class:`Request` into one image. Methods never touch the database: the batch runner does
all I/O and provenance.
"""

from __future__ import annotations

import hashlib
import json
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from stylestudy.errors import UserError

METHOD_KINDS = ("optimisation", "feed-forward", "translator", "classical", "control",
                "reference")


@dataclass(frozen=True)
class Param:
    """One method parameter: type, default, and optional bounds or choices."""

    type: type
    default: Any
    doc: str = ""
    choices: tuple[Any, ...] | None = None
    min: float | None = None
    max: float | None = None

    def check(self, name: str, value: Any) -> Any:
        if self.type is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, self.type) or (
            self.type in (int, float) and isinstance(value, bool)
        ):
            raise UserError(f"parameter {name!r} must be {self.type.__name__}, got {value!r}")
        if self.choices is not None and value not in self.choices:
            raise UserError(f"parameter {name!r} must be one of {list(self.choices)}, "
                            f"got {value!r}")
        if self.min is not None and value < self.min:
            raise UserError(f"parameter {name!r} must be >= {self.min}, got {value!r}")
        if self.max is not None and value > self.max:
            raise UserError(f"parameter {name!r} must be <= {self.max}, got {value!r}")
        return value


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def params_hash(params: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of a complete (defaults filled) parameter dict."""
    return hashlib.sha256(canonical_json(params).encode()).hexdigest()


@dataclass
class RunContext:
    """What the runner gives a method at setup: device, weights access and policy."""

    device: str = "cpu"
    allow_random_weights: bool = False
    weights_dir: str | None = None
    checkpoint: str | None = None
    #: filled by methods at setup: weight name -> {"sha256", "source", "calibrated", ...}
    weights_used: dict[str, dict[str, Any]] = field(default_factory=dict)

    def encoder(self, weights: str, taps: Iterable[str], **options: Any) -> Any:
        """A frozen VGG ``Encoder`` (``generator.encoder.load_encoder`` with ``options``) on
        this context's device and weight policy, recorded in ``weights_used``."""
        import torch

        from stylestudy.generator.encoder import load_encoder

        enc, record = load_encoder(weights, taps, allow_random=self.allow_random_weights,
                                   weights_dir=self.weights_dir,
                                   device=torch.device(self.device), **options)
        self.weights_used[weights] = record
        return enc


@dataclass(frozen=True)
class Request:
    """One generation: images are float32 H×W×3 RGB in [0, 1] at their file resolution.

    ``size`` is the requested long side of the output (None: the content's own size).
    ``guides`` holds optional guidance images by kind (uint8 H×W×3 colour-coded region
    maps: ``content_regions``, ``style_regions``), from the manifest's ``guides``.
    """

    content: np.ndarray
    style: np.ndarray
    seed: int
    params: dict[str, Any]
    size: int | None = None
    guides: dict[str, Any] = field(default_factory=dict)

    @property
    def output_shape(self) -> tuple[int, int]:
        """(H, W) of the output: the content's aspect ratio with long side ``size``."""
        from stylestudy.generator.imageops import output_shape

        return output_shape(*self.content.shape[:2], self.size)


@dataclass
class Result:
    image: np.ndarray
    wall_time_s: float
    device: str
    peak_memory_bytes: int | None
    params_hash: str
    provenance: dict[str, Any] = field(default_factory=dict)


class Method(ABC):
    """Base class: subclasses set the class attributes and implement :meth:`run`."""

    name: ClassVar[str]
    version: ClassVar[str]
    kind: ClassVar[str]
    summary: ClassVar[str] = ""
    params: ClassVar[dict[str, Param]] = {}
    weights: ClassVar[tuple[str, ...]] = ()
    needs_checkpoint: ClassVar[bool] = False
    #: the authors' checkpoint cannot be downloaded here: the user imports it
    #: (``stylestudy weights import NAME FILE``); listed as "weights you supply"
    user_weights: ClassVar[bool] = False
    prefers_gpu: ClassVar[bool] = False
    #: how many requests one call of :meth:`run_batch` can take on one device
    max_batch: ClassVar[int] = 1
    #: resources of one task (Ray): CPU cores and, where known, peak host memory in bytes
    num_cpus: ClassVar[float] = 1
    memory_bytes: ClassVar[int | None] = None

    def __init__(self, ctx: RunContext | None = None):
        self.ctx = ctx or RunContext()

    @classmethod
    def validate_params(cls, given: dict[str, Any] | None) -> dict[str, Any]:
        """Complete ``given`` with defaults; unknown names and bad values raise ``UserError``."""
        given = dict(given or {})
        unknown = sorted(set(given) - set(cls.params))
        if unknown:
            known = ", ".join(sorted(cls.params)) or "none"
            raise UserError(f"method {cls.name!r} has no parameter {unknown[0]!r} "
                            f"(parameters: {known})")
        return {k: p.check(k, given.get(k, p.default)) for k, p in cls.params.items()}

    @classmethod
    def requirements(cls) -> list[str]:
        req = [f"weights:{w}" for w in cls.weights]
        if cls.user_weights:
            req.insert(0, "weights you supply")
        if cls.needs_checkpoint:
            req.append("checkpoint")
        if cls.prefers_gpu:
            req.append("gpu-preferred")
        return req

    @classmethod
    def batch_limit(cls, device: str) -> int:
        """Requests one :meth:`run_batch` call takes on ``device`` (``max_batch``)."""
        return cls.max_batch

    def setup(self) -> None:  # noqa: B027 - optional hook
        """Load weights or models once per runner; record them in ``ctx.weights_used``."""

    @abstractmethod
    def run(self, request: Request) -> np.ndarray:
        """Return the output as float H×W×3 in [0, 1] (or uint8)."""

    def run_batch(self, requests: list[Request]) -> list[np.ndarray]:
        return [self.run(r) for r in requests]

    def provenance(self, index: int = 0) -> dict[str, Any]:
        """Method-specific provenance of the ``index``-th request of the last run or batch
        (e.g. variant labels)."""
        return {}

    def generate(self, request: Request) -> Result:
        """Run one request, measuring wall time and peak memory on the device."""
        return self.generate_batch([request])[0]

    def generate_batch(self, requests: list[Request]) -> list[Result]:
        """Run requests together (:meth:`run_batch`); wall time is split evenly among them."""
        import torch

        cuda = self.ctx.device.startswith("cuda")
        if cuda:
            torch.cuda.reset_peak_memory_stats(self.ctx.device)
            torch.cuda.synchronize(self.ctx.device)
        with PeakRSS() as rss:
            t0 = time.perf_counter()
            images = (self.run_batch(requests) if len(requests) > 1
                      else [self.run(requests[0])])
            if cuda:
                torch.cuda.synchronize(self.ctx.device)
            wall = time.perf_counter() - t0
        if cuda:
            peak, kind = torch.cuda.max_memory_allocated(self.ctx.device), "cuda_max_allocated"
        else:
            peak, kind = rss.peak, "process_peak_rss"
        prov = {"peak_memory_kind": kind, "batch_size": len(requests)}
        return [Result(image=to_uint8(image), wall_time_s=wall / len(requests),
                       device=self.ctx.device, peak_memory_bytes=peak,
                       params_hash=params_hash(r.params),
                       provenance={**prov, **self.provenance(i)})
                for i, (image, r) in enumerate(zip(images, requests, strict=True))]


class PeakRSS:
    """Samples this process's resident set size in a thread; ``peak`` after exit (bytes)."""

    interval_s = 0.005

    def __init__(self) -> None:
        import os
        import threading

        self.peak = 0
        self._page = os.sysconf("SC_PAGE_SIZE")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _rss(self) -> int:
        try:
            with open("/proc/self/statm") as fh:
                return int(fh.read().split()[1]) * self._page
        except OSError:  # not Linux: fall back to the lifetime peak
            import resource

            return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024

    def _sample(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.peak = max(self.peak, self._rss())

    def __enter__(self) -> PeakRSS:
        self.peak = self._rss()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Float [0, 1] (clipped, rounded) or uint8 H×W×3 → uint8 H×W×3."""
    if image.dtype == np.uint8:
        return image
    return np.clip(np.rint(np.asarray(image, dtype=np.float64) * 255.0), 0, 255).astype(np.uint8)


_REGISTRY: dict[str, type[Method]] = {}
#: entry-point group through which installed distributions add methods
PLUGIN_GROUP = "stylestudy.methods"


@dataclass(frozen=True)
class Plugin:
    """Where a plugin method comes from: its entry point and installed distribution."""

    entry_point: str
    distribution: str
    version: str


_PLUGINS: dict[str, Plugin] = {}
#: "entry point (distribution version)" -> why it could not be loaded
_BROKEN: dict[str, str] = {}
_plugins_loaded = False


def register(cls: type[Method]) -> type[Method]:
    """Class decorator: register a method under its ``name``."""
    if cls.kind not in METHOD_KINDS:
        raise ValueError(f"{cls.__name__}.kind must be one of {METHOD_KINDS}")
    _REGISTRY[cls.name] = cls
    return cls


def _load_builtins() -> None:
    """Import every module of ``stylestudy.generator.methods``; each registers its classes."""
    import importlib
    import pkgutil

    import stylestudy.generator.methods as pkg

    for info in pkgutil.iter_modules(pkg.__path__):
        importlib.import_module(f"{pkg.__name__}.{info.name}")


def _load_plugin(ep, builtins: dict[str, type[Method]]) -> list[type[Method]]:
    """Load one entry point (a ``Method`` subclass, or a module that registers some)."""
    import inspect

    before = dict(_REGISTRY)
    try:
        obj = ep.load()
        if inspect.ismodule(obj):
            found = [c for n, c in _REGISTRY.items() if before.get(n) is not c]
        elif inspect.isclass(obj) and issubclass(obj, Method) and not inspect.isabstract(obj):
            found = [obj]
        else:
            raise TypeError(f"{ep.value} is not a Method subclass with run()")
        if not found:
            raise TypeError(f"{ep.value} registers no method")
        for cls in found:
            if not isinstance(getattr(cls, "name", None), str) or not cls.name.strip():
                raise TypeError(f"{cls.__name__} has no 'name'")
            if cls.name in builtins and builtins[cls.name] is not cls:
                raise TypeError(f"{cls.__name__} takes the name {cls.name!r} of a built-in "
                                "method")
            if not isinstance(getattr(cls, "version", None), str):
                raise TypeError(f"{cls.__name__}.version must be a string")
            register(cls)
        return found
    except Exception:
        _REGISTRY.clear()
        _REGISTRY.update(before)
        raise


def _load_plugins() -> None:
    """Register the methods of every installed ``stylestudy.methods`` entry point, once per
    process; a plugin that fails is recorded in :func:`broken_plugins`, the rest load."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    from importlib.metadata import entry_points

    builtins = dict(_REGISTRY)
    for ep in sorted(entry_points(group=PLUGIN_GROUP), key=lambda e: e.name):
        dist = ep.dist
        where = Plugin(ep.name, dist.name if dist else "?", dist.version if dist else "?")
        try:
            for cls in _load_plugin(ep, builtins):
                _PLUGINS[cls.name] = where
        except Exception as exc:  # a broken plugin must not break the other methods
            _BROKEN[f"{ep.name} ({where.distribution} {where.version})"] = (
                f"{type(exc).__name__}: {exc}")


def available() -> dict[str, type[Method]]:
    """Every method: built-ins, then installed plugins, by name."""
    _load_builtins()
    _load_plugins()
    return dict(sorted(_REGISTRY.items()))


def plugin_of(name: str) -> Plugin | None:
    """The entry point and distribution a registered method came from (None: built-in)."""
    available()
    return _PLUGINS.get(name)


def broken_plugins() -> dict[str, str]:
    """Plugins that failed to load: "entry point (distribution version)" -> the error."""
    available()
    return dict(_BROKEN)


def get(name: str) -> type[Method]:
    methods = available()
    if name not in methods:
        broken = "".join(f"; plugin {k} failed to load: {v}" for k, v in _BROKEN.items())
        raise UserError(f"unknown method {name!r} (known: {', '.join(methods)}){broken}")
    return methods[name]
