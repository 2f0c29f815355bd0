"""Pre-made outputs: images made elsewhere, matched to their generations and imported.

A manifest entry with ``outputs:`` names a folder (files named ``{content}__{style}`` with
any image suffix) or a file-name pattern such as ``out/{style}/{content}_s{seed}.png``;
``{content}`` and ``{style}`` are the input files' stems. Each planned generation of the
entry takes the file its names give; the set's other methods run as usual.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine, select, update

import stylestudy
from stylestudy.errors import UserError
from stylestudy.generator.command import FIELD
from stylestudy.generator.sizing import WrongSize, fit_to_shape

#: the placeholders of a pattern (besides the entry's own parameters)
PATTERN_FIELDS = ("content", "style", "seed")
#: how many names of one kind a report lists before "... and N more"
LIST_LIMIT = 20


@dataclass(frozen=True)
class PremadeSpec:
    """Where an entry's files are: an absolute pattern (parameters filled in)."""

    pattern: str
    shown: str  # as the manifest writes it, for messages
    folder: bool = False
    notes: str | None = None

    @property
    def has_seed(self) -> bool:
        return "{seed}" in self.pattern

    def to_json(self) -> dict[str, Any]:
        return {"outputs": self.shown, "notes": self.notes}


def parse_spec(where: str, entry: dict[str, Any], base: Path,
               params: dict[str, Any]) -> PremadeSpec:
    """Validate an entry's ``outputs`` (and ``notes``) for one parameter set."""
    value, notes = entry["outputs"], entry.get("notes")
    if not isinstance(value, str) or not value.strip():
        raise UserError(f"{where}: 'outputs' must be a folder or a file-name pattern")
    if notes is not None and not isinstance(notes, str):
        raise UserError(f"{where}: 'notes' must be text")
    names = set(FIELD.findall(value))
    if not names:
        folder = (base / value).resolve()
        if not folder.is_dir():
            raise UserError(f"{where}: 'outputs' folder {value!r} does not exist (or give a "
                            "pattern with {content} and {style})")
        return PremadeSpec(str(folder / "{content}__{style}"), value, True, notes)
    unknown = sorted(names - set(PATTERN_FIELDS) - set(params))
    if unknown:
        allowed = sorted(set(PATTERN_FIELDS) | set(params))
        raise UserError(f"{where}: unknown placeholder {{{unknown[0]}}} in 'outputs' "
                        f"(allowed: {', '.join('{' + n + '}' for n in allowed)})")
    if not {"content", "style"} <= names:
        raise UserError(f"{where}: an 'outputs' pattern must contain {{content}} and {{style}}")
    filled = FIELD.sub(lambda m: str(params[m[1]]) if m[1] in params else m[0], value)
    pattern = os.path.normpath(os.path.join(base, filled))
    root = _split(pattern)[0]
    if not root.is_dir():
        raise UserError(f"{where}: folder {os.path.relpath(root, base)!r} of 'outputs' does "
                        "not exist")
    return PremadeSpec(pattern, value, False, notes)


def _split(pattern: str) -> tuple[Path, list[str]]:
    """(the folder before the first placeholder, the path parts from there on)."""
    parts = Path(pattern).parts
    first = next(i for i, p in enumerate(parts) if FIELD.search(p))
    return Path(*parts[:first]), list(parts[first:])


def _regex(parts: list[str], groups: dict[str, str], any_suffix: bool) -> re.Pattern:
    text, out, seen, pos = "/".join(parts), [], set(), 0
    for m in FIELD.finditer(text):
        out.append(re.escape(text[pos:m.start()]))
        out.append(f"(?P={m[1]})" if m[1] in seen else f"(?P<{m[1]}>{groups[m[1]]})")
        seen.add(m[1])
        pos = m.end()
    out.append(re.escape(text[pos:]))
    if any_suffix:
        from stylestudy.generator.manifest import IMAGE_SUFFIXES

        out.append(r"(?i:" + "|".join(re.escape(s) for s in sorted(IMAGE_SUFFIXES)) + ")")
    return re.compile("".join(out))


def _alternatives(names: set[str]) -> str:
    return "(?:" + "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True)) + ")"


@dataclass
class Scan:
    """Files found for an entry: (content stem, style stem, seed or None) -> files, and
    files that look like outputs but belong to no planned generation."""

    files: dict[tuple[str, str, int | None], list[Path]]
    unmatched: list[Path]


def scan(spec: PremadeSpec, contents: set[str], styles: set[str]) -> Scan:
    """The files of ``spec`` whose names give a known content and style stem."""
    root, parts = _split(spec.pattern)
    exact = _regex(parts, {"content": _alternatives(contents), "style": _alternatives(styles),
                           "seed": r"\d+"}, spec.folder)
    loose = _regex(parts, {"content": r"[^/]+", "style": r"[^/]+", "seed": r"\d+"},
                   spec.folder)
    from stylestudy.generator.manifest import IMAGE_SUFFIXES

    found: dict[tuple[str, str, int | None], list[Path]] = {}
    unmatched = []
    for path in _files_at_depth(root, len(parts)):
        rel = "/".join(path.relative_to(root).parts)
        m = exact.fullmatch(rel)
        if m is not None:
            seed = int(m["seed"]) if spec.has_seed else None
            found.setdefault((m["content"], m["style"], seed), []).append(path)
        elif loose.fullmatch(rel) or (spec.folder and path.suffix.lower() in IMAGE_SUFFIXES):
            unmatched.append(path)
    return Scan(found, unmatched)


def _files_at_depth(root: Path, depth: int) -> list[Path]:
    """Non-hidden files exactly ``depth`` path parts below ``root``, sorted."""
    level = [root]
    for _ in range(depth - 1):
        level = [d for p in level for d in sorted(p.iterdir())
                 if d.is_dir() and not d.name.startswith(".")]
    return [f for d in level for f in sorted(d.iterdir())
            if f.is_file() and not f.name.startswith(".")]


def expected_name(spec: PremadeSpec, content: str, style: str, seed: int) -> str:
    """The file a generation wants (``.*``: any image suffix, in a folder)."""
    values = {"content": content, "style": style, "seed": str(seed)}
    name = FIELD.sub(lambda m: values.get(m[1], m[0]), spec.pattern)
    return name + (".*" if spec.folder else "")


@dataclass
class Report:
    """What one import of an entry's files did and found wrong."""

    label: str
    shown: str
    imported: int = 0
    already: int = 0
    replaced: int = 0
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    wrong_size: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    ambiguous: list[str] = field(default_factory=list)
    in_study: list[str] = field(default_factory=list)

    @property
    def incomplete(self) -> bool:
        """Anything short of every generation holding its current file."""
        return bool(self.missing or self.unreadable or self.wrong_size or self.changed
                    or self.ambiguous or self.in_study)

    def message(self) -> str:
        lines = [f"pre-made outputs of {self.label!r} ({self.shown}): {self.imported} "
                 f"imported now, {self.already} already imported"
                 + (f", {self.replaced} replaced" if self.replaced else "")]
        for title, items in (
                ("missing", self.missing), ("unreadable", self.unreadable),
                ("wrongly sized", self.wrong_size), ("several files for one output",
                                                     self.ambiguous),
                ("changed since imported (--replace-changed imports the new files)",
                 self.changed),
                ("changed, but a study already shows the old output (not replaced; use a "
                 "new set name)", self.in_study),
                ("extra (no generation of the set)", self.extra)):
            if items:
                shown = items[:LIST_LIMIT]
                more = f" ... and {len(items) - LIST_LIMIT} more" if len(items) > LIST_LIMIT \
                    else ""
                lines.append(f"  {title} ({len(items)}): " + ", ".join(shown) + more)
        return "\n".join(lines)


def _decode(data: bytes) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            return np.asarray(im.convert("RGB"))
    except UnidentifiedImageError:
        raise UserError("not an image format Pillow can read") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise UserError(str(exc)) from None


def import_outputs(manifest, planned, shard=None, replace_changed: bool = False,
                   engine: Engine | None = None) -> list[Report]:
    """Import the files of every pre-made entry of ``manifest`` into the generations
    ``planned`` (from :func:`stylestudy.generator.runner.plan`) that ``shard`` owns."""
    from stylestudy.db.engine import get_engine

    engine = engine or get_engine()
    return [_import_one(manifest, cond, planned, shard, replace_changed, engine)
            for cond in manifest.conditions if cond.premade is not None]


def _import_one(manifest, cond, planned, shard, replace_changed: bool, engine) -> Report:
    from stylestudy.db.engine import session_scope
    from stylestudy.db.models import Generation
    from stylestudy.db.states import GenerationState
    from stylestudy.generator import runner

    spec: PremadeSpec = cond.premade
    base = manifest.source.parent
    report = Report(cond.label, spec.shown)
    contents = {p.stem for p in manifest.contents}
    styles = {p.stem for p in manifest.styles}
    found = scan(spec, contents, styles)
    ours = {gid: key for key, gid in planned.generations.items() if key[0] == cond.label}
    with session_scope(engine) as session:
        rows = {g.id: (g.status, dict(g.provenance or {}), g.content.height, g.content.width,
                       g.size, g.inputs, g.output_asset_id,
                       shard is None or shard.owns(g, g.method))
                for g in session.scalars(select(Generation).where(Generation.id.in_(ours)))}
    used: set[Path] = set()
    worker = runner.worker_id()

    def rel(path: Path | str) -> str:
        return os.path.relpath(path, base)

    for gid, (_, content_name, style_name, seed) in sorted(ours.items()):
        status, prov, height, width, size, inputs, output_id, owned = rows[gid]
        c, s = Path(content_name).stem, Path(style_name).stem
        files = found.files.get((c, s, seed if spec.has_seed else None), [])
        used.update(files)
        if not owned:
            continue
        if not files:
            if status != GenerationState.DONE:
                report.missing.append(rel(expected_name(spec, c, s, seed)))
            continue
        if len(files) > 1:
            report.ambiguous.append(", ".join(rel(f) for f in files))
            continue
        path = files[0]
        data = path.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        if status == GenerationState.DONE:
            if prov.get("premade", {}).get("file_sha256") == sha:
                report.already += 1
            elif not replace_changed:
                report.changed.append(rel(path))
            else:
                _replace(gid, output_id, path, data, sha, cond, spec, rel(path),
                         (height, width), size, prov, report, engine)
            continue
        if not runner.claim(gid, worker, retry_failed=True, engine=engine):
            continue  # another job is importing it right now
        try:
            image, resized_from = fit_to_shape(_decode(data), _shape(height, width, size))
        except UserError as exc:
            report.unreadable.append(f"{rel(path)} ({exc.message})")
            runner.finish(gid, worker, None, None, engine=engine,
                          error=f"pre-made file {rel(path)} is not a readable image: "
                                f"{exc.message}")
            continue
        except WrongSize as exc:
            report.wrong_size.append(f"{rel(path)} {exc}")
            runner.finish(gid, worker, None, None, engine=engine,
                          error=f"pre-made file {rel(path)} {exc}")
            continue
        record = _provenance(cond, spec, rel(path), path.name, sha, inputs, seed, size,
                             resized_from)
        if runner.finish(gid, worker, image, record, engine=engine, output_name=path.name):
            report.imported += 1
    report.extra = sorted(rel(p) for p in
                          (found.unmatched + [f for fs in found.files.values() for f in fs])
                          if p not in used)
    return report


def _shape(height: int, width: int, size: int | None) -> tuple[int, int]:
    from stylestudy.generator.imageops import output_shape

    return output_shape(height, width, size)


def _provenance(cond, spec: PremadeSpec, shown: str, name: str, sha: str,
                inputs: dict[str, Any], seed: int, size: int | None,
                resized_from: list[int] | None) -> dict[str, Any]:
    return {
        "method": {"name": cond.name, "version": cond.version, "label": cond.label,
                   "params": cond.params, "params_hash": cond.params_hash,
                   "source": "pre-made"},
        "seed": seed, "size": size,
        "inputs": {"content": inputs["content"], "style": inputs["style"]},
        "premade": {"file": shown, "file_name": name, "file_sha256": sha,
                    "version": cond.version, "notes": spec.notes, "pattern": spec.shown,
                    "imported_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")},
        "device": None, "wall_time_s": None, "peak_memory_bytes": None, "weights": {},
        "uncalibrated": False, "output_resized_from": resized_from,
        "libraries": {"stylestudy": stylestudy.__version__},
    }


def _replace(gid: int, old_output: int, path: Path, data: bytes, sha: str, cond, spec,
             shown: str, content_hw: tuple[int, int], size: int | None,
             prov: dict[str, Any], report: Report, engine) -> None:
    """Swap a done generation's output for the changed file, unless a study shows it."""
    from stylestudy.db.assets import store_pixels
    from stylestudy.db.engine import session_scope
    from stylestudy.db.models import ComparisonSetMember, Generation, Study
    from stylestudy.db.states import GenerationState

    try:
        image, resized_from = fit_to_shape(_decode(data), _shape(*content_hw, size))
    except UserError as exc:
        report.unreadable.append(f"{shown} ({exc.message})")
        return
    except WrongSize as exc:
        report.wrong_size.append(f"{shown} {exc}")
        return
    with session_scope(engine, write=True) as session:
        studies = session.scalars(
            select(Study.slug).join(ComparisonSetMember,
                                    ComparisonSetMember.set_id == Study.comparison_set_id)
            .where(ComparisonSetMember.generation_id == gid)).all()
        if studies:
            report.in_study.append(f"{shown} (study {', '.join(sorted(set(studies)))})")
            return
        asset = store_pixels(session, image, "output", source_name=path.name)
        gen = session.get(Generation, gid)
        record = _provenance(cond, spec, shown, path.name, sha, gen.inputs, gen.seed, size,
                             resized_from)
        record["replaced"] = [*prov.get("replaced", []), {
            "output_sha256": gen.output.sha256 if gen.output else None,
            "file_sha256": prov.get("premade", {}).get("file_sha256"),
            "imported_at": prov.get("premade", {}).get("imported_at")}]
        res = session.execute(update(Generation).where(
            Generation.id == gid, Generation.status == GenerationState.DONE,
            Generation.output_asset_id == old_output).values(
                output_asset_id=asset.id, provenance=record,
                finished_at=dt.datetime.now(dt.UTC)))
        if res.rowcount == 1:
            report.replaced += 1
