"""Previews for the guide editor: STROTSS's quick preset at 128 px with the editor's current
(unsaved) guidance, run by ``stylestudy generate`` on a preview set of its own.

Each distinct preview (pair, guidance, parameters) gets a folder under
``STYLESTUDY_HOME/guide-previews/`` holding its guide PNGs and manifest, and a comparison set
``guide-preview <key>`` of one generation, so the researcher's sets never see it and a
repeated preview is answered from the database. The run is a separate process (the server
never loads a network); its state is read back from the database, its pid and exit code
files.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from sqlalchemy import select

from stylestudy import config
from stylestudy.db.assets import encode_png
from stylestudy.db.engine import session_scope
from stylestudy.db.models import ComparisonSet, ComparisonSetMember, Generation
from stylestudy.errors import UserError
from stylestudy.fileio import write_atomic
from stylestudy.generator import manifest as manifest_mod
from stylestudy.generator import runner
from stylestudy.generator.manifest import Manifest

__all__ = ["PREVIEW_SIZE", "SET_PREFIX", "start", "status", "output_asset"]

#: output long side of a preview (the issue's 128 px; STROTSS runs two scales, 64 and 128)
PREVIEW_SIZE = 128
SET_PREFIX = "guide-preview "
#: strotss parameters a preview never takes from the researcher's condition
_OWN_PARAMS = ("iterations", "preset", "points")


def _strotss_params(m: Manifest, iterations: int | None) -> dict[str, Any]:
    """The researcher's first STROTSS condition (content weight, variant, …) with the quick
    preset, or ``iterations`` per scale where given (a faster preview)."""
    cond = next((c for c in m.conditions if c.name == "strotss"), None)
    params = {k: v for k, v in (cond.params if cond else {}).items() if k not in _OWN_PARAMS}
    params.update({"iterations": iterations} if iterations else {"preset": "quick"})
    return params


def _folder(key: str) -> Path:
    return config.home() / "guide-previews" / key


def start(m: Manifest, pair: tuple[Path, Path], guides: dict[str, np.ndarray] | None,
          points: list[list[float]], size: int = PREVIEW_SIZE,
          iterations: int | None = None) -> int:
    """Plan the preview and start its run unless it is done or running; its generation id."""
    content, style = pair
    params = _strotss_params(m, iterations)
    pngs = {kind: encode_png(img) for kind, img in (guides or {}).items()}
    h = hashlib.sha256(json.dumps([str(content), str(style), params, size, points,
                                   m.allow_random_weights, m.seeds[0]]).encode())
    for kind in sorted(pngs):
        h.update(kind.encode() + hashlib.sha256(pngs[kind]).digest())
    key = h.hexdigest()[:20]
    folder = _folder(key)
    folder.mkdir(parents=True, exist_ok=True)
    entry: dict[str, Any] = {"content": content.name, "style": style.name}
    for kind, data in pngs.items():
        write_atomic(folder / f"{kind}.png", data)
        entry[kind] = f"{kind}.png"
    if points:
        entry["points"] = points
    raw = {"name": SET_PREFIX + key, "size": size, "seeds": [m.seeds[0]],
           "contents": [str(content)], "styles": [str(style)],
           "methods": [{"name": "strotss", "params": params}],
           "allow_random_weights": m.allow_random_weights}
    if len(entry) > 2:
        raw["guides"] = [entry]
    path = folder / "preview.yaml"
    write_atomic(path, yaml.safe_dump(raw, sort_keys=False).encode())
    spec = manifest_mod.load(path)
    runner.plan(spec)
    with session_scope() as s:
        gen = runner.set_generations(spec.name, s)[0]
        gen_id, state = gen.id, gen.status
    if state != "done" and not _running(folder):
        _launch(folder, path)
    return gen_id


def _running(folder: Path) -> bool:
    """A run was started here and has not ended (its pid lives and is no zombie)."""
    try:
        pid = int((folder / "pid").read_text())
    except (OSError, ValueError):
        return False
    if (folder / "exit_code").exists():
        return False
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _launch(folder: Path, manifest_path: Path) -> None:
    (folder / "exit_code").unlink(missing_ok=True)
    log = open(folder / "run.log", "wb")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        [sys.executable, "-m", "stylestudy.cli", "generate", str(manifest_path),
         "--no-progress", "--retry-failed"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    log.close()
    write_atomic(folder / "pid", str(proc.pid).encode())

    def reap() -> None:
        code = proc.wait()
        write_atomic(folder / "exit_code", str(code).encode())

    threading.Thread(target=reap, daemon=True, name=f"guide-preview-{proc.pid}").start()


def _preview_generation(session, gen_id: int) -> tuple[Generation, str]:
    row = session.execute(
        select(Generation, ComparisonSet.name)
        .join(ComparisonSetMember, ComparisonSetMember.generation_id == Generation.id)
        .join(ComparisonSet, ComparisonSet.id == ComparisonSetMember.set_id)
        .where(Generation.id == gen_id, ComparisonSet.name.startswith(SET_PREFIX))).first()
    if row is None:
        raise UserError(f"no preview {gen_id}")
    return row[0], row[1][len(SET_PREFIX):]


def _last_duration(session) -> float | None:
    """Seconds from plan to result of the latest finished preview (the progress estimate)."""
    gen = session.scalar(
        select(Generation)
        .join(ComparisonSetMember, ComparisonSetMember.generation_id == Generation.id)
        .join(ComparisonSet, ComparisonSet.id == ComparisonSetMember.set_id)
        .where(ComparisonSet.name.startswith(SET_PREFIX), Generation.status == "done")
        .order_by(Generation.finished_at.desc()).limit(1))
    if gen is None or gen.finished_at is None:
        return None
    return (gen.finished_at - gen.created_at).total_seconds()


def _log_tail(folder: Path) -> str:
    try:
        lines = (folder / "run.log").read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1] if lines else ""


def status(gen_id: int) -> dict[str, Any]:
    """``state`` (starting, running, done, failed) with elapsed seconds, an estimate from
    the last finished preview, and the error of a failed run."""
    with session_scope() as s:
        gen, key = _preview_generation(s, gen_id)
        state, error = gen.status, gen.error
        out: dict[str, Any] = {"id": gen_id, "estimate_s": _last_duration(s)}
        if state == "done":
            out["wall_time_s"] = gen.wall_time_s
    folder = _folder(key)
    if state in ("done", "failed"):
        return {**out, "state": state, "error": error}
    if not _running(folder):
        detail = _log_tail(folder)
        return {**out, "state": "failed",
                "error": "the preview run ended without a result" + (
                    f": {detail}" if detail else "")}
    try:
        started = (folder / "pid").stat().st_mtime
    except OSError:
        started = time.time()
    return {**out, "state": "running" if state == "running" else "starting",
            "elapsed_s": round(time.time() - started, 1)}


def output_asset(gen_id: int):
    """The output asset of a finished preview (``UserError`` when there is none)."""
    with session_scope() as s:
        gen, _ = _preview_generation(s, gen_id)
        if gen.status != "done" or gen.output is None:
            raise UserError(f"preview {gen_id} has no result yet")
        s.expunge(gen.output)
        return gen.output
