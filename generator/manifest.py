"""Generation manifests: a YAML file naming inputs, methods, seeds and the output size."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from stylestudy.errors import UserError
from stylestudy.generator import method as registry

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif"}
TOP_KEYS = {"name", "size", "seeds", "contents", "styles", "pairs", "methods",
            "allow_random_weights", "guides"}
#: guidance images a pair may carry (colour-coded region maps; docs/methods-strotss.md)
GUIDE_KINDS = ("content_regions", "style_regions")
METHOD_KEYS = {"name", "label", "params", "sweep", "checkpoint"}
#: a method of your own: outputs made elsewhere, or a command run per generation
OWN_KEYS = {"name", "label", "version", "notes", "params", "sweep"}
PREMADE_KEYS = OWN_KEYS | {"outputs"}
COMMAND_KEYS = OWN_KEYS | {"command", "cwd", "env", "timeout", "shell", "gpus"}


@dataclass(frozen=True)
class Condition:
    """One method with one complete parameter set (a study condition).

    ``source`` says how its outputs are made: ``method`` (a registered class, built-in or
    plugin), ``command`` (a process per generation) or ``premade`` (files made elsewhere).
    """

    name: str
    version: str
    params: dict[str, Any]
    params_hash: str
    label: str
    checkpoint: str | None = None
    source: str = "method"
    command: Any = None  # generator.command.CommandSpec
    premade: Any = None  # generator.premade.PremadeSpec


@dataclass
class Manifest:
    name: str
    source: Path
    size: int | None
    seeds: list[int]
    contents: list[Path]
    styles: list[Path]
    pairs: list[tuple[Path, Path]]
    conditions: list[Condition]
    allow_random_weights: bool = False
    #: (content, style) → guide kind → image file
    guides: dict[tuple[Path, Path], dict[str, Path]] = field(default_factory=dict)
    #: (content, style) → point pairs [content r, content c, style r, style c] (STROTSS)
    points: dict[tuple[Path, Path], list[list[float]]] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def n_generations(self) -> int:
        return len(self.pairs) * len(self.conditions) * len(self.seeds)


def _fail(src: Path, msg: str) -> UserError:
    return UserError(f"{src}: {msg}")


def _images(src: Path, entries: Any, key: str) -> list[Path]:
    if not isinstance(entries, list) or not entries:
        raise _fail(src, f"'{key}' must be a non-empty list of image files or folders")
    out: list[Path] = []
    for entry in entries:
        if not isinstance(entry, str):
            raise _fail(src, f"'{key}' entries must be paths, got {entry!r}")
        path = (src.parent / entry).resolve()
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise _fail(src, f"folder {entry!r} in '{key}' holds no images")
            out.extend(found)
        elif path.is_file():
            out.append(path)
        else:
            raise _fail(src, f"'{key}' entry {entry!r} does not exist")
    names = [p.name for p in out]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup:
        raise _fail(src, f"two '{key}' images are named {dup!r}; file names must be unique")
    return out


def _label(name: str, params: dict[str, Any], defaults: dict[str, Any]) -> str:
    changed = {k: v for k, v in params.items() if defaults.get(k) != v}
    if not changed:
        return name
    return name + "[" + ",".join(f"{k}={changed[k]}" for k in sorted(changed)) + "]"


def _expand(src: Path, i: int, params: Any, sweep: Any):
    """Check ``params``/``sweep`` mappings; yield (swept values, merged params)."""
    if not isinstance(params, dict) or not isinstance(sweep, dict):
        raise _fail(src, f"methods[{i}]: 'params' and 'sweep' must be mappings")
    if any(not isinstance(v, list) or not v for v in sweep.values()):
        raise _fail(src, f"methods[{i}]: every 'sweep' value must be a non-empty list")
    keys = list(sweep)
    for values in itertools.product(*(sweep[k] for k in keys)):
        swept = dict(zip(keys, values, strict=True))
        yield swept, {**params, **swept}


def _swept_label(base: str, swept: dict[str, Any]) -> str:
    return f"{base}[" + ",".join(f"{k}={v}" for k, v in swept.items()) + "]" if swept else base


def _method_conditions(src: Path, i: int, entry: dict) -> list[Condition]:
    """A registered method (built-in or installed plugin)."""
    unknown = set(entry) - METHOD_KEYS
    if unknown:
        own = " (a method of your own needs 'outputs' or 'command')" if unknown & (
            OWN_KEYS - METHOD_KEYS) else ""
        raise _fail(src, f"methods[{i}] has unknown key {sorted(unknown)[0]!r} "
                         f"(allowed: {', '.join(sorted(METHOD_KEYS))}){own}")
    cls = registry.get(str(entry["name"]))
    checkpoint = entry.get("checkpoint")
    if checkpoint is not None:
        checkpoint = str((src.parent / str(checkpoint)).resolve())
        if not Path(checkpoint).is_file():
            raise _fail(src, f"methods[{i}]: checkpoint {entry['checkpoint']!r} not found")
    elif cls.needs_checkpoint:
        raise _fail(src, f"method {cls.name!r} needs a 'checkpoint' (train one with "
                         f"`stylestudy train {cls.name}`)")
    defaults = cls.validate_params({})
    base = entry.get("label")
    out = []
    for swept, merged in _expand(src, i, entry.get("params") or {}, entry.get("sweep") or {}):
        try:
            full = cls.validate_params(merged)
        except UserError as exc:
            raise _fail(src, f"methods[{i}] ({cls.name}): {exc.message}") from None
        label = _label(cls.name, full, defaults) if base is None else _swept_label(
            str(base), swept)
        out.append(Condition(cls.name, cls.version, full, registry.params_hash(full),
                             label, checkpoint))
    return out


def _own_conditions(src: Path, i: int, entry: dict) -> list[Condition]:
    """A method of the researcher's own: pre-made ``outputs`` or a ``command``."""
    from stylestudy.generator import command, premade

    if "command" in entry and "outputs" in entry:
        raise _fail(src, f"methods[{i}] has both 'command' and 'outputs'; give one")
    source = "command" if "command" in entry else "premade"
    allowed = COMMAND_KEYS if source == "command" else PREMADE_KEYS
    unknown = set(entry) - allowed
    if unknown:
        raise _fail(src, f"methods[{i}] has unknown key {sorted(unknown)[0]!r} "
                         f"(allowed: {', '.join(sorted(allowed))})")
    name = entry["name"]
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}", name):
        raise _fail(src, f"methods[{i}]: 'name' must be 1-64 letters, digits or ._+- "
                         f"(got {name!r})")
    if name in registry.available():
        raise _fail(src, f"methods[{i}]: {name!r} is the name of an installed method; "
                         "give your own method another name")
    version = entry.get("version", "1")
    if isinstance(version, bool) or not isinstance(version, str | int | float) or not (
            0 < len(str(version)) <= 32):
        raise _fail(src, f"methods[{i}]: 'version' must be text of at most 32 characters")
    if entry.get("notes") is not None and not isinstance(entry["notes"], str):
        raise _fail(src, f"methods[{i}]: 'notes' must be text")
    where = f"{src}: methods[{i}] ({name})"
    base = str(entry.get("label", name))
    out = []
    for swept, params in _expand(src, i, entry.get("params") or {}, entry.get("sweep") or {}):
        bad = next((k for k, v in params.items() if not isinstance(k, str) or not
                    re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k) or not isinstance(
                        v, str | int | float | bool)), None)
        if bad is not None:
            raise _fail(src, f"methods[{i}]: parameter {bad!r} must be a name with a "
                             "text, number or true/false value")
        clash = sorted(set(params) & (set(command.PLACEHOLDERS) | set(premade.PATTERN_FIELDS)))
        if clash:
            raise _fail(src, f"methods[{i}]: parameter {clash[0]!r} has the name of a "
                             "placeholder; rename it")
        label = _swept_label(base, swept)
        if source == "command":
            spec = command.parse_spec(where, entry, src.parent, set(params))
            identity = {"params": params, **spec.identity()}
            out.append(Condition(name, str(version), params, registry.params_hash(identity),
                                 label, source="command", command=spec))
        else:
            spec = premade.parse_spec(where, entry, src.parent, params)
            identity = {"params": params, "source": "premade"}
            out.append(Condition(name, str(version), params, registry.params_hash(identity),
                                 label, source="premade", premade=spec))
    return out


def _conditions(src: Path, entries: Any) -> list[Condition]:
    if not isinstance(entries, list) or not entries:
        raise _fail(src, "'methods' must be a non-empty list")
    out: list[Condition] = []
    for i, entry in enumerate(entries):
        if isinstance(entry, str):
            entry = {"name": entry}
        if not isinstance(entry, dict) or "name" not in entry:
            raise _fail(src, f"methods[{i}] must be a name or a mapping with 'name'")
        own = "command" in entry or "outputs" in entry
        out.extend(_own_conditions(src, i, entry) if own else
                   _method_conditions(src, i, entry))
    labels = [c.label for c in out]
    dup = next((lb for lb in labels if labels.count(lb) > 1), None)
    if dup:
        raise _fail(src, f"two method entries have the label {dup!r}; give one a 'label'")
    return out


def _pairs(src: Path, spec: Any, contents: list[Path], styles: list[Path]):
    if spec in (None, "all"):
        return [(c, s) for c in contents for s in styles]
    if not isinstance(spec, list):
        raise _fail(src, "'pairs' must be 'all' or a list of [content, style] file names")
    by_c = {p.name: p for p in contents}
    by_s = {p.name: p for p in styles}
    out = []
    for pair in spec:
        if not (isinstance(pair, list) and len(pair) == 2):
            raise _fail(src, f"pair {pair!r} must be [content file name, style file name]")
        c, s = pair
        if c not in by_c or s not in by_s:
            missing = c if c not in by_c else s
            raise _fail(src, f"pair {pair!r}: {missing!r} is not among the manifest's images")
        out.append((by_c[c], by_s[s]))
    return out


def _points(src: Path, i: int, value: Any) -> list[list[float]]:
    """Point pairs of guides[i]: rows [content r, content c, style r, style c], pixels."""
    if not isinstance(value, list) or not all(
            isinstance(row, list) and len(row) == 4 and all(
                isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v < float("inf")
                for v in row) for row in value):
        raise _fail(src, f"guides[{i}]: 'points' must be a list of [content r, content c, "
                         "style r, style c] rows of non-negative pixel coordinates")
    return [[float(v) for v in row] for row in value]


def _guides(src: Path, spec: Any, pairs: list[tuple[Path, Path]]):
    if spec is None:
        return {}, {}
    if not isinstance(spec, list):
        raise _fail(src, "'guides' must be a list of {content, style, content_regions, "
                         "style_regions, points} mappings")
    by_name = {(c.name, s.name): (c, s) for c, s in pairs}
    out: dict[tuple[Path, Path], dict[str, Path]] = {}
    points: dict[tuple[Path, Path], list[list[float]]] = {}
    for i, entry in enumerate(spec):
        if not isinstance(entry, dict) or not {"content", "style"} <= set(entry):
            raise _fail(src, f"guides[{i}] needs 'content' and 'style' file names")
        unknown = set(entry) - {"content", "style", "points", *GUIDE_KINDS}
        if unknown:
            raise _fail(src, f"guides[{i}] has unknown key {sorted(unknown)[0]!r} "
                             f"(allowed: content, style, {', '.join(GUIDE_KINDS)}, points)")
        pair = by_name.get((entry["content"], entry["style"]))
        if pair is None:
            raise _fail(src, f"guides[{i}]: [{entry['content']}, {entry['style']}] is not a "
                             "pair of this manifest")
        if pair in out or pair in points:
            raise _fail(src, f"guides[{i}]: [{entry['content']}, {entry['style']}] has an "
                             "earlier entry")
        files = {}
        for kind in GUIDE_KINDS:
            if kind in entry:
                path = (src.parent / str(entry[kind])).resolve()
                if not path.is_file():
                    raise _fail(src, f"guides[{i}]: {kind} {entry[kind]!r} does not exist")
                files[kind] = path
        pts = _points(src, i, entry["points"]) if "points" in entry else []
        if not files and not pts:
            raise _fail(src, f"guides[{i}] names no guide image and no points")
        if files:
            out[pair] = files
        if pts:
            points[pair] = pts
    return out, points


def parse(raw: Any, source: Path) -> Manifest:
    """Validate a manifest mapping; every problem is a ``UserError`` naming the file."""
    if not isinstance(raw, dict):
        raise _fail(source, "a manifest must be a YAML mapping")
    unknown = set(raw) - TOP_KEYS
    if unknown:
        raise _fail(source, f"unknown key {sorted(unknown)[0]!r} "
                            f"(allowed: {', '.join(sorted(TOP_KEYS))})")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise _fail(source, "'name' (the comparison set's name) is required")
    size = raw.get("size")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool)
                             or not 8 <= size <= 8192):
        raise _fail(source, f"'size' must be an integer long side in 8..8192, got {size!r}")
    seeds = raw.get("seeds", [0])
    if not isinstance(seeds, list) or not seeds or not all(
            isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds):
        raise _fail(source, "'seeds' must be a non-empty list of non-negative integers")
    contents = _images(source, raw.get("contents"), "contents")
    styles = _images(source, raw.get("styles"), "styles")
    allow_random = raw.get("allow_random_weights", False)
    if not isinstance(allow_random, bool):
        raise _fail(source, "'allow_random_weights' must be true or false")
    pairs = _pairs(source, raw.get("pairs"), contents, styles)
    conditions = _conditions(source, raw.get("methods"))
    if any(c.premade is not None for c in conditions):
        for key, images in (("contents", contents), ("styles", styles)):
            stems = [p.stem for p in images]
            dup = next((s for s in stems if stems.count(s) > 1), None)
            if dup:
                raise _fail(source, f"two '{key}' images have the stem {dup!r}; pre-made "
                                    "outputs are matched by stem, so stems must be unique")
    guides, points = _guides(source, raw.get("guides"), pairs)
    if points and any(c.params.get("points") for c in conditions):
        raise _fail(source, "give point guidance either in 'guides' (per pair) or in a "
                            "method's 'points' parameter, not both")
    return Manifest(name=name.strip(), source=source, size=size, seeds=sorted(set(seeds)),
                    contents=contents, styles=styles, pairs=pairs, conditions=conditions,
                    allow_random_weights=allow_random, raw=raw, guides=guides, points=points)


def load(path: str | Path) -> Manifest:
    """Read and validate a manifest file."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise UserError(f"manifest not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read manifest {path}: {exc}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: not valid YAML: {exc}") from None
    return parse(raw, path.resolve())
