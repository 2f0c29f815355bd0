"""Comparison sets as people see them: a list, one set's summary, and an export of its
outputs under readable names with a provenance table and an HTML gallery."""

from __future__ import annotations

import csv
import json
import re
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from stylestudy.db.assets import asset_path
from stylestudy.db.engine import session_scope
from stylestudy.db.models import ComparisonSet, Generation
from stylestudy.db.queries import comparison_set, set_generations
from stylestudy.db.states import GenerationState
from stylestudy.generator import method as registry
from stylestudy.generator.runner import STATUS_SHOWN, is_interrupted


def shown_status(gen: Generation) -> str:
    """A generation's status as people see it (a dead claimant's row is "interrupted")."""
    return "interrupted" if is_interrupted(gen) else gen.status


def source_of(gen: Generation) -> str:
    """How the generation's outputs are made: built-in, plugin (with its distribution),
    command, pre-made, or a method not installed here."""
    inputs = gen.inputs or {}
    if "command" in inputs:
        return "command"
    if "premade" in inputs:
        return "pre-made"
    name = gen.method.name
    if name not in registry.available():
        return "not installed here"
    plugin = registry.plugin_of(name)
    return "built-in" if plugin is None else f"plugin {plugin.distribution} {plugin.version}"


def input_name(asset) -> str:
    """An input image's name without its suffix (the file name it was first stored under)."""
    return Path(asset.source_name).stem if asset.source_name else asset.sha256[:12]


@dataclass
class ConditionSummary:
    label: str
    name: str
    version: str
    source: str
    params: dict[str, Any]
    counts: dict[str, int]


@dataclass
class SetSummary:
    name: str
    created_at: Any
    counts: dict[str, int]
    conditions: list[ConditionSummary]
    sizes: list[int | None]
    output_sizes: list[tuple[int, int]]  # distinct (width, height) of the outputs
    seeds: list[int]
    contents: list[str]
    styles: list[str]
    pairs: int
    failures: list[tuple[str, str, str, int, str]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _counts(statuses) -> dict[str, int]:
    found = Counter(statuses)
    return {s: found.get(s, 0) for s in STATUS_SHOWN}


def list_sets(engine: Engine | None = None) -> list[tuple[str, Any, dict[str, int], int]]:
    """(name, created at, counts by status, number of conditions) of every set."""
    out = []
    with session_scope(engine) as session:
        for cset in session.scalars(select(ComparisonSet).order_by(ComparisonSet.name)):
            gens = set_generations(cset.name, session)
            out.append((cset.name, cset.created_at, _counts(shown_status(g) for g in gens),
                        len({g.method_id for g in gens})))
    return out


def summarise(set_name: str, engine: Engine | None = None) -> SetSummary:
    """Conditions, counts by status, sizes, inputs and failures of one set."""
    with session_scope(engine) as session:
        cset = comparison_set(session, set_name)
        gens = set_generations(set_name, session)
        by_method: dict[int, list[Generation]] = {}
        for g in gens:
            by_method.setdefault(g.method_id, []).append(g)
        conditions = [ConditionSummary(
            rows[0].method.label, rows[0].method.name, rows[0].method.version,
            source_of(rows[0]), dict(rows[0].method.params or {}),
            _counts(shown_status(g) for g in rows)) for rows in by_method.values()]
        return SetSummary(
            name=set_name, created_at=cset.created_at,
            counts=_counts(shown_status(g) for g in gens), conditions=conditions,
            sizes=sorted({g.size for g in gens}, key=lambda s: (s is None, s or 0)),
            output_sizes=sorted({(g.output.width, g.output.height) for g in gens
                                 if g.output is not None}),
            seeds=sorted({int(g.seed) for g in gens}),
            contents=sorted({input_name(g.content) for g in gens}),
            styles=sorted({input_name(g.style) for g in gens}),
            pairs=len({(g.content_asset_id, g.style_asset_id) for g in gens}),
            failures=[(g.method.label, input_name(g.content), input_name(g.style),
                       int(g.seed), g.error or "") for g in gens
                      if g.status == GenerationState.FAILED])


_UNSAFE = re.compile(r"[^A-Za-z0-9._=,+()\[\]-]+")


def safe_name(text: str) -> str:
    """``text`` as a portable file-name part (anything else becomes ``_``)."""
    return _UNSAFE.sub("_", text).strip(".") or "_"


@dataclass
class Cell:
    """One generation of a set, as the export, gallery and figure use it."""

    label: str
    content: str
    style: str
    seed: int
    status: str
    error: str
    output: Path | None  # the file in the asset store


@dataclass
class Exported:
    folder: Path
    outputs: int
    csv: Path
    gallery: Path


CSV_COLUMNS = ("file", "label", "method", "version", "source", "content", "style", "seed",
               "size", "width", "height", "status", "error", "output_sha256", "generation_id",
               "wall_time_s", "device", "params", "provenance")


def export(set_name: str, out: str | Path, engine: Engine | None = None) -> Exported:
    """Copy the set's outputs to ``out`` as ``content__style__label.png`` (``__seedN`` when
    the set has several seeds), its inputs to ``out/inputs``, and write ``provenance.csv``
    (one row per generation) and the gallery ``index.html``."""
    from stylestudy.generator.gallery import write_gallery

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "inputs").mkdir(exist_ok=True)
    rows, cells, used, inputs, sources = [], [], set(), {}, {}
    with session_scope(engine) as session:
        gens = set_generations(set_name, session)
        several = len({g.seed for g in gens}) > 1
        for g in gens:
            for kind, asset in (("content", g.content), ("style", g.style)):
                if (kind, asset.id) not in inputs:
                    name = f"{kind}__{safe_name(input_name(asset))}.png"
                    shutil.copyfile(asset_path(asset), out / "inputs" / name)
                    inputs[(kind, asset.id)] = f"inputs/{name}"
            c, s = input_name(g.content), input_name(g.style)
            if g.method_id not in sources:
                sources[g.method_id] = source_of(g)
            file = ""
            if g.status == GenerationState.DONE and g.output is not None:
                stem = "__".join(safe_name(x) for x in (c, s, g.method.label))
                stem += f"__seed{g.seed}" if several else ""
                if stem in used:
                    stem += f"__g{g.id}"
                used.add(stem)
                file = f"{stem}.png"
                shutil.copyfile(asset_path(g.output), out / file)
            cells.append(Cell(g.method.label, inputs[("content", g.content.id)],
                              inputs[("style", g.style.id)], int(g.seed), shown_status(g),
                              g.error or "", Path(file) if file else None))
            rows.append({
                "file": file, "label": g.method.label, "method": g.method.name,
                "version": g.method.version, "source": sources[g.method_id], "content": c,
                "style": s, "seed": g.seed, "size": "" if g.size is None else g.size,
                "width": g.output.width if g.output else "",
                "height": g.output.height if g.output else "", "status": shown_status(g),
                "error": g.error or "", "output_sha256": g.output.sha256 if g.output else "",
                "generation_id": g.id, "wall_time_s": "" if g.wall_time_s is None
                else f"{g.wall_time_s:.3f}", "device": g.device or "",
                "params": json.dumps(g.method.params or {}, sort_keys=True),
                "provenance": json.dumps(g.provenance or {}, sort_keys=True)})
    table = out / "provenance.csv"
    with open(table, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    gallery = write_gallery(set_name, cells, out / "index.html")
    return Exported(out, sum(1 for r in rows if r["file"]), table, gallery)
