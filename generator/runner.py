"""The batch runner: plan a manifest into generation rows, then claim and run them.

The database is the single source of truth. Planning is idempotent (unique rows per
method, inputs and seed); running claims one row at a time by compare-and-set, so any
number of processes, shards or Ray tasks can work on one set, be killed at any point, and
be re-run without losing or duplicating anything.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import os
import platform
import random
import socket
import traceback
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine, and_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

import stylestudy
from stylestudy import config
from stylestudy.db.assets import load_pixels, store_file, store_pixels
from stylestudy.db.engine import get_engine, session_scope
from stylestudy.db.models import (
    Asset,
    ComparisonSet,
    ComparisonSetMember,
    Generation,
    Method,
    utcnow,
)
from stylestudy.db.queries import comparison_set, failures, set_generations, status_of
from stylestudy.db.states import GenerationState
from stylestudy.errors import UserError
from stylestudy.generator import command as command_mod
from stylestudy.generator import method as registry
from stylestudy.generator.imageops import output_shape, resize, to_float
from stylestudy.generator.manifest import Condition, Manifest

log = logging.getLogger(__name__)

#: a claim older than this is presumed dead (its process vanished on another host)
DEFAULT_LEASE = dt.timedelta(hours=2)


@dataclasses.dataclass(frozen=True)
class Shard:
    """Job ``index`` of ``count`` (0-based): a deterministic partition of a set's work."""

    index: int = 0
    count: int = 1

    @classmethod
    def parse(cls, text: str) -> Shard:
        try:
            i, n = (int(x) for x in text.split("/"))
        except ValueError:
            raise UserError(f"--shard must look like i/N (e.g. 0/4), got {text!r}") from None
        if not (n >= 1 and 0 <= i < n):
            raise UserError(f"--shard {text}: need 0 <= i < N")
        return cls(i, n)

    def owns(self, gen: Generation, method: Method) -> bool:
        if self.count == 1:
            return True
        key = f"{method.name}|{method.version}|{method.params_hash}|{gen.inputs_key}|{gen.seed}"
        return int(hashlib.sha256(key.encode()).hexdigest()[:16], 16) % self.count == self.index


def inputs_key(content_sha: str, style_sha: str, size: int | None,
               guides: dict[str, str] | None = None,
               points: list[list[float]] | None = None) -> str:
    """Hash of everything a generation reads: input hashes, output size, guide hashes and
    guide points."""
    key: dict[str, Any] = {"content": content_sha, "style": style_sha, "size": size}
    if guides:
        key["guides"] = guides
    if points:
        key["points"] = points
    return hashlib.sha256(registry.canonical_json(key).encode()).hexdigest()


def _insert_ignore(session: Session, model, values: dict[str, Any], conflict: list[str]):
    dialect = session.get_bind().dialect.name
    ins = pg_insert if dialect == "postgresql" else sqlite_insert
    session.execute(ins(model).values(**values).on_conflict_do_nothing(index_elements=conflict))


def _method_row(session: Session, cond: Condition) -> Method:
    key = (Method.name == cond.name, Method.version == cond.version,
           Method.params_hash == cond.params_hash)
    row = session.scalar(select(Method).where(*key))
    if row is None:
        clash = session.scalar(select(Method).where(Method.label == cond.label))
        if clash is not None:
            raise UserError(f"label {cond.label!r} already names another version or "
                            f"parameter set of {clash.name!r} (version {clash.version}); "
                            "choose a different 'label'")
        row = Method(name=cond.name, version=cond.version, label=cond.label,
                     params=cond.params, params_hash=cond.params_hash, weights={})
        session.add(row)
        session.flush()
    return row


@dataclasses.dataclass
class Planned:
    """A planned set: its id, and each generation's id by (label, content file name,
    style file name, seed) as the manifest names them."""

    set_id: int
    generations: dict[tuple[str, str, str, int], int]


def _own_inputs(cond: Condition) -> dict[str, Any]:
    """What a command or pre-made condition's generations carry for whoever runs them."""
    if cond.command is not None:
        return {"command": cond.command.to_json()}
    if cond.premade is not None:
        return {"premade": cond.premade.to_json()}
    return {}


def _differences(manifest: Manifest, planned: dict[tuple, tuple],
                 stored: dict[tuple, tuple]) -> str:
    """The ways a manifest's generations differ from the stored set's, for people."""
    parts = []

    def values(rows, i):
        return {r[i] for r in rows.values()}

    for i, what in ((0, "conditions"), (4, "seeds")):
        new, old = values(planned, i), values(stored, i)
        if new - old:
            parts.append(f"{what} added: {', '.join(map(str, sorted(new - old)))}")
        if old - new:
            parts.append(f"{what} the manifest no longer names: "
                         f"{', '.join(map(str, sorted(old - new)))}")
    new_size, old_size = values(planned, 3), values(stored, 3)
    if new_size != old_size:
        parts.append("size " + ", ".join(map(str, sorted(old_size, key=str))) + " → "
                     + ", ".join(map(str, sorted(new_size, key=str))))
    for i, j, what in ((1, 5, "contents"), (2, 6, "styles")):
        new = {r[j]: r[i] for r in planned.values()}
        old = {r[j]: r[i] for r in stored.values()}
        if set(new) - set(old):
            parts.append(f"{what} added or changed: "
                         f"{', '.join(sorted(new[k] for k in set(new) - set(old)))}")
        if set(old) - set(new):
            parts.append(f"{what} the manifest no longer names: "
                         f"{', '.join(sorted(str(old[k]) for k in set(old) - set(new)))}")
    added, dropped = set(planned) - set(stored), set(stored) - set(planned)
    if not parts:  # e.g. new pairs of the same images, or new guides
        row = planned[next(iter(added))] if added else stored[next(iter(dropped))]
        parts.append(f"other generations, e.g. {row[0]} on {row[1]} × {row[2]} (seed {row[4]})")
    counts = f"it would add {len(added)} generation(s)" + (
        f" and keep {len(dropped)} that it no longer names" if dropped else "")
    return (f"{manifest.source}: comparison set {manifest.name!r} already holds "
            f"{len(stored)} generations and this manifest differs: {'; '.join(parts)}; "
            f"{counts}. Run with --extend to add them to the set, or give the manifest a "
            "new 'name'")


def _stored_rows(session: Session, set_id: int) -> dict[tuple, tuple]:
    rows = session.execute(
        select(Generation, Method)
        .join(ComparisonSetMember, ComparisonSetMember.generation_id == Generation.id)
        .join(Method, Method.id == Generation.method_id)
        .where(ComparisonSetMember.set_id == set_id)).all()
    return {(m.name, m.version, m.params_hash, g.inputs_key, g.seed):
            (m.label, g.content.source_name, g.style.source_name, g.size, g.seed,
             g.content.sha256, g.style.sha256) for g, m in rows}


#: PostgreSQL advisory lock that serialises planners (SQLite's BEGIN IMMEDIATE does it there)
_PLAN_LOCK_KEY = 7_215_302


def plan(manifest: Manifest, engine: Engine | None = None, extend: bool = True) -> Planned:
    """Store inputs, method and generation rows for a manifest.

    Safe to run concurrently (e.g. every job of a SLURM array plans the same manifest).
    With ``extend=False`` a manifest whose generations differ from those of the stored
    set of the same name is refused with the differences (``UserError``); nothing is
    written then.
    """
    engine = engine or get_engine()
    with session_scope(engine, write=True) as session:
        if engine.dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PLAN_LOCK_KEY})
        cset = session.scalar(select(ComparisonSet).where(ComparisonSet.name == manifest.name))
        existed = cset is not None
        if cset is None:
            cset = ComparisonSet(name=manifest.name, manifest=manifest.raw)
            session.add(cset)
            session.flush()
        stored: dict[str, Asset] = {}
        for path in {*manifest.contents, *manifest.styles}:
            role = "content" if path in manifest.contents else "style"
            stored[str(path)] = store_file(session, path, role)
        rows = []  # (condition, content path, style path, key, seed, guides, points)
        for c_path, s_path in manifest.pairs:
            c, s = stored[str(c_path)], stored[str(s_path)]
            guides = {kind: store_file(session, path, "guide").sha256 for kind, path in
                      manifest.guides.get((c_path, s_path), {}).items()}
            points = manifest.points.get((c_path, s_path), [])
            key = inputs_key(c.sha256, s.sha256, manifest.size, guides, points)
            rows.extend((cond, c_path, s_path, key, seed, guides, points)
                        for cond in manifest.conditions for seed in manifest.seeds)
        if existed and not extend:
            planned = {(cond.name, cond.version, cond.params_hash, key, seed):
                       (cond.label, c_path.name, s_path.name, manifest.size, seed,
                        stored[str(c_path)].sha256, stored[str(s_path)].sha256)
                       for cond, c_path, s_path, key, seed, _, _ in rows}
            before = _stored_rows(session, cset.id)
            if set(planned) != set(before):
                raise UserError(_differences(manifest, planned, before))
        methods = {cond.label: _method_row(session, cond) for cond in manifest.conditions}
        ids: dict[tuple[str, str, str, int], int] = {}
        for cond, c_path, s_path, key, seed, guides, points in rows:
            c, s, meth = stored[str(c_path)], stored[str(s_path)], methods[cond.label]
            inputs = {"content": c.sha256, "style": s.sha256, "checkpoint": cond.checkpoint,
                      "guides": guides, **({"points": points} if points else {}),
                      **_own_inputs(cond)}
            _insert_ignore(session, Generation, {
                "method_id": meth.id, "content_asset_id": c.id, "style_asset_id": s.id,
                "inputs_key": key, "size": manifest.size, "seed": seed,
                "status": GenerationState.PENDING, "attempts": 0, "inputs": inputs,
                "provenance": {}, "created_at": utcnow(),
            }, ["method_id", "inputs_key", "seed"])
            gen_id, status, had = session.execute(select(
                Generation.id, Generation.status, Generation.inputs).where(
                Generation.method_id == meth.id, Generation.inputs_key == key,
                Generation.seed == seed)).one()
            if cond.command is not None and status != GenerationState.DONE and had != inputs:
                # how to run it (cwd, env, timeout) follows the latest manifest
                session.execute(update(Generation).where(Generation.id == gen_id)
                                .values(inputs=inputs))
            _insert_ignore(session, ComparisonSetMember,
                           {"set_id": cset.id, "generation_id": gen_id},
                           ["set_id", "generation_id"])
            ids[(cond.label, c_path.name, s_path.name, seed)] = gen_id
        return Planned(cset.id, ids)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _claim_is_dead(claimed_by: str | None, claimed_until: dt.datetime | None) -> bool:
    """A running row whose claimant is gone: lease expired, or a dead pid on this host."""
    if claimed_until is not None:
        until = claimed_until if claimed_until.tzinfo else claimed_until.replace(tzinfo=dt.UTC)
        if until < utcnow():
            return True
    if not claimed_by:
        return True
    host, _, rest = claimed_by.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return int(pid) != os.getpid() and _is_zombie(int(pid))


def is_interrupted(gen: Generation) -> bool:
    """A running generation whose claimant is gone (killed, or Ctrl-C): it shows as
    interrupted, and the next run takes it over."""
    return (gen.status == GenerationState.RUNNING
            and _claim_is_dead(gen.claimed_by, gen.claimed_until))


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return False


def pending_ids(set_name: str, shard: Shard = Shard(), retry_failed: bool = False,
                engine: Engine | None = None) -> list[int]:
    """Generation ids of a set that still need running (in this shard), in a stable order."""
    engine = engine or get_engine()
    with session_scope(engine) as session:
        cset = comparison_set(session, set_name)
        wanted = [GenerationState.PENDING, GenerationState.RUNNING]
        if retry_failed:
            wanted.append(GenerationState.FAILED)
        rows = session.execute(
            select(Generation, Method)
            .join(ComparisonSetMember, ComparisonSetMember.generation_id == Generation.id)
            .join(Method, Method.id == Generation.method_id)
            .where(ComparisonSetMember.set_id == cset.id, Generation.status.in_(wanted))
            .order_by(Generation.id)).all()
        # pre-made outputs are imported by the driver (generator.premade), never run
        return [g.id for g, m in rows if shard.owns(g, m) and (
            g.status != GenerationState.RUNNING or _claim_is_dead(g.claimed_by, g.claimed_until))
            and "premade" not in (g.inputs or {})]


def claim(gen_id: int, worker: str, retry_failed: bool = False,
          lease: dt.timedelta = DEFAULT_LEASE, engine: Engine | None = None) -> bool:
    """Compare-and-set a generation to ``running`` for ``worker``; False if someone has it."""
    engine = engine or get_engine()
    with session_scope(engine, write=True) as session:
        gen = session.get(Generation, gen_id)
        if gen is None or gen.status == GenerationState.DONE:
            return False
        ok_states = [GenerationState.PENDING] + ([GenerationState.FAILED] if retry_failed else [])
        dead = _claim_is_dead(gen.claimed_by, gen.claimed_until)
        if gen.status == GenerationState.RUNNING and dead:
            cond = and_(Generation.status == GenerationState.RUNNING,
                        Generation.claimed_by == gen.claimed_by)
        elif gen.status in ok_states:
            cond = Generation.status == gen.status
        else:
            return False
        res = session.execute(
            update(Generation).where(Generation.id == gen_id, cond)
            .values(status=GenerationState.RUNNING, claimed_by=worker,
                    claimed_until=utcnow() + lease, attempts=Generation.attempts + 1,
                    error=None))
        return res.rowcount == 1


@dataclasses.dataclass
class Job:
    """Everything a process needs to run one claimed generation, detached from the db."""

    generation_id: int
    method: str
    params: dict[str, Any]
    label: str
    checkpoint: str | None
    content: np.ndarray
    style: np.ndarray
    seed: int
    size: int | None
    inputs: dict[str, Any]
    guides: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    version: str = ""
    params_hash: str = ""
    #: a command condition's CommandSpec as JSON (None: a registered method)
    command: dict[str, Any] | None = None
    content_name: str = ""
    style_name: str = ""


def load_job(gen_id: int, engine: Engine | None = None) -> Job:
    engine = engine or get_engine()
    with session_scope(engine) as session:
        gen = session.get(Generation, gen_id)
        meth = gen.method
        guide_shas = (gen.inputs or {}).get("guides") or {}
        guides = {kind: load_pixels(session.scalars(select(Asset).where(
            Asset.sha256 == sha)).one()) for kind, sha in guide_shas.items()}
        inputs = {"content": gen.content.sha256, "style": gen.style.sha256}
        if guide_shas:
            inputs["guides"] = guide_shas
        params = dict(meth.params)
        points = (gen.inputs or {}).get("points")
        command = (gen.inputs or {}).get("command")
        if points:  # a pair's guide points reach the methods that take points
            inputs["points"] = points
            if command is None and "points" in registry.get(meth.name).params:
                params["points"] = points
        return Job(gen.id, meth.name, params, meth.label,
                   (gen.inputs or {}).get("checkpoint"), load_pixels(gen.content),
                   load_pixels(gen.style), int(gen.seed), gen.size, inputs, guides,
                   version=meth.version, params_hash=meth.params_hash, command=command,
                   content_name=gen.content.source_name or "",
                   style_name=gen.style.source_name or "")


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def library_versions() -> dict[str, str]:
    import PIL
    import torch

    return {"stylestudy": stylestudy.__version__, "python": platform.python_version(),
            "torch": torch.__version__, "numpy": np.__version__, "pillow": PIL.__version__}


class MethodCache:
    """Method instances set up once per (method, checkpoint, device) in a process."""

    def __init__(self, device: str = "auto", allow_random_weights: bool = False,
                 gpu: int = 0):
        self.device = device
        self.allow_random_weights = allow_random_weights
        self.gpu = gpu
        self._items: dict[tuple[str, str | None], registry.Method] = {}

    def device_for(self, cls: type[registry.Method]) -> str:
        """``auto``: GPU number ``gpu`` for methods that prefer one, when there is one."""
        if self.device != "auto":
            return self.device
        import torch

        if cls.prefers_gpu and torch.cuda.is_available():
            return f"cuda:{self.gpu % torch.cuda.device_count()}"
        return "cpu"

    def gpu_for(self, gpus: int) -> int | None:
        """The GPU a command asking for ``gpus`` gets here (None: none, or its own choice)."""
        if gpus <= 0 or self.device == "cpu":
            return None
        if self.device.startswith("cuda:"):
            return int(self.device.split(":", 1)[1])
        import torch

        if not torch.cuda.is_available():
            return None
        return self.gpu % torch.cuda.device_count()

    def get(self, name: str, checkpoint: str | None) -> registry.Method:
        key = (name, checkpoint)
        if key not in self._items:
            cls = registry.get(name)
            ctx = registry.RunContext(device=self.device_for(cls), checkpoint=checkpoint,
                                      allow_random_weights=self.allow_random_weights)
            inst = cls(ctx)
            inst.setup()
            self._items[key] = inst
        return self._items[key]


def execute(job: Job, methods: MethodCache) -> tuple[np.ndarray, dict[str, Any]]:
    """Run one job; return the uint8 output and its provenance."""
    return execute_batch([job], methods)[0]


def _execute_command(job: Job, methods: MethodCache) -> tuple[np.ndarray, dict[str, Any]]:
    """Run a command condition's process for one job; ``CommandFailed`` carries the same
    provenance (with the log) when it fails."""
    spec = command_mod.CommandSpec.from_json(job.command)
    gpu = methods.gpu_for(spec.gpus)

    def provenance(record: dict[str, Any]) -> dict[str, Any]:
        return {
            "method": {"name": job.method, "version": job.version, "label": job.label,
                       "params": job.params, "params_hash": job.params_hash,
                       "source": "command"},
            "seed": job.seed, "size": job.size, "inputs": job.inputs,
            "device": None if gpu is None else f"cuda:{gpu}",
            "wall_time_s": record.get("wall_time_s"),
            "peak_memory_bytes": record.get("peak_rss_bytes"),
            "peak_memory_kind": "command_peak_rss", "batch_size": 1, "weights": {},
            "uncalibrated": False, "output_resized_from": record.pop("output_resized_from",
                                                                     None),
            "libraries": library_versions(), "command": record}

    try:
        image, record = command_mod.execute(
            spec, content=job.content, style=job.style, seed=job.seed,
            shape=output_shape(*job.content.shape[:2], job.size), params=job.params,
            content_name=job.content_name, style_name=job.style_name, gpu=gpu)
    except command_mod.CommandFailed as exc:
        raise command_mod.CommandFailed(exc.message, provenance(exc.record)) from None
    return image, provenance(record)


def _origin(name: str) -> dict[str, Any]:
    plugin = registry.plugin_of(name)
    if plugin is None:
        return {"source": "built-in"}
    return {"source": "plugin", "plugin": {"distribution": plugin.distribution,
                                           "version": plugin.version,
                                           "entry_point": plugin.entry_point}}


def execute_batch(jobs: list[Job], methods: MethodCache) -> list[tuple[np.ndarray, dict]]:
    """Run jobs of one condition together on one device (the method's ``run_batch``);
    a command condition's jobs run one process each."""
    if jobs[0].command is not None:
        return [_execute_command(job, methods) for job in jobs]
    inst = methods.get(jobs[0].method, jobs[0].checkpoint)
    seed_everything(jobs[0].seed)
    requests = [registry.Request(content=to_float(j.content), style=to_float(j.style),
                                 seed=j.seed, params=j.params, size=j.size, guides=j.guides)
                for j in jobs]
    results = inst.generate_batch(requests)
    weights = dict(inst.ctx.weights_used)
    out = []
    for job, result in zip(jobs, results, strict=True):
        image = result.image
        want = output_shape(*job.content.shape[:2], job.size)
        resized = image.shape[:2] != want
        if resized:
            image = resize(image, want)
        out.append((image, {
            "method": {"name": inst.name, "version": inst.version, "label": job.label,
                       "params": job.params, "params_hash": result.params_hash,
                       **_origin(inst.name)},
            "seed": job.seed, "size": job.size, "inputs": job.inputs,
            "device": result.device, "wall_time_s": result.wall_time_s,
            "peak_memory_bytes": result.peak_memory_bytes,
            "weights": weights,
            "uncalibrated": any(not w.get("calibrated", True) for w in weights.values()),
            "output_resized_from": list(result.image.shape[:2]) if resized else None,
            "libraries": library_versions(), **result.provenance,
        }))
    return out


def _keep_logs(gen_id: int, attempt: int, prov: dict[str, Any] | None) -> str | None:
    """Write a command's stdout and stderr under ``<home>/logs``; the provenance then
    names the files (relative to the home). Returns the stderr file's name."""
    record = (prov or {}).get("command")
    if not record or not isinstance(record.get("stderr"), str):
        return None
    folder = Path("logs") / f"generation-{gen_id}"
    (config.home() / folder).mkdir(parents=True, exist_ok=True)
    for stream in ("stdout", "stderr"):
        rel = folder / f"attempt-{attempt}.{stream}.log"
        (config.home() / rel).write_text(record.get(stream) or "", encoding="utf-8")
        record[stream] = rel.as_posix()
    return record["stderr"]


def finish(gen_id: int, worker: str, image: np.ndarray | None, prov: dict[str, Any] | None,
           error: str | None = None, engine: Engine | None = None,
           output_name: str | None = None) -> bool:
    """Store the output (or the error, with what provenance there is) for a claimed
    generation; False if the claim was lost. A command's logs go to files."""
    engine = engine or get_engine()
    with session_scope(engine, write=True) as session:
        attempt = session.scalar(select(Generation.attempts).where(
            Generation.id == gen_id, Generation.status == GenerationState.RUNNING,
            Generation.claimed_by == worker))
        if attempt is None:
            return False
        log = _keep_logs(gen_id, attempt, prov)
        if error is not None:
            values: dict[str, Any] = {
                "status": GenerationState.FAILED,
                "error": error + (f" (log: {log})" if log else ""),
                "finished_at": utcnow(), "claimed_until": None}
            if prov is not None:
                values.update(provenance=prov, wall_time_s=prov.get("wall_time_s"),
                              peak_memory_bytes=prov.get("peak_memory_bytes"))
        else:
            asset = store_pixels(session, image, "output", source_name=output_name)
            values = {"status": GenerationState.DONE, "output_asset_id": asset.id, "error": None,
                      "device": prov["device"], "wall_time_s": prov["wall_time_s"],
                      "peak_memory_bytes": prov["peak_memory_bytes"], "provenance": prov,
                      "finished_at": utcnow(), "claimed_until": None}
        res = session.execute(update(Generation).where(
            Generation.id == gen_id, Generation.status == GenerationState.RUNNING,
            Generation.claimed_by == worker).values(**values))
        if res.rowcount != 1:
            session.rollback()
            return False
        if error is None:
            gen = session.get(Generation, gen_id)
            meth = gen.method
            merged = {**(meth.weights or {}), **{k: v.get("sha256") for k, v in
                                                 prov["weights"].items()}}
            if merged != (meth.weights or {}):
                meth.weights = merged
        return True


def run_group(gen_ids: list[int], worker: str, methods: MethodCache,
              retry_failed: bool = False, engine: Engine | None = None) -> list[str]:
    """Claim, run (batched when several are claimed) and finish generations of one
    condition; return each one's final state, or 'skipped' when another job has it."""
    claimed = [g for g in gen_ids if claim(g, worker, retry_failed, engine=engine)]
    states = {g: "skipped" for g in gen_ids}
    jobs = []
    for gen_id in claimed:
        try:
            jobs.append(load_job(gen_id, engine))
        except UserError as exc:
            finish(gen_id, worker, None, None, error=exc.message, engine=engine)
            states[gen_id] = "failed"
    if len(jobs) > 1:
        try:
            outputs = execute_batch(jobs, methods)
        except Exception:  # one bad input must not fail the others: run them one by one
            log.debug("batch failed; running its jobs one by one", exc_info=True)
            outputs = None
        if outputs is not None:
            for job, (image, prov) in zip(jobs, outputs, strict=True):
                ok = finish(job.generation_id, worker, image, prov, engine=engine)
                states[job.generation_id] = "done" if ok else "skipped"
            return [states[g] for g in gen_ids]
    for job in jobs:
        states[job.generation_id] = _run_job(job, worker, methods, engine)
    return [states[g] for g in gen_ids]


def _run_job(job: Job, worker: str, methods: MethodCache, engine: Engine | None) -> str:
    try:
        image, prov = execute(job, methods)
    except UserError as exc:
        finish(job.generation_id, worker, None, None, error=exc.message, engine=engine)
        return "failed"
    except command_mod.CommandFailed as exc:
        finish(job.generation_id, worker, None, exc.record, error=exc.message, engine=engine)
        return "failed"
    except Exception as exc:  # a method crash fails this row, not the batch
        log.debug("generation %s failed", job.generation_id, exc_info=True)
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        finish(job.generation_id, worker, None, None, error=detail, engine=engine)
        return "failed"
    return "done" if finish(job.generation_id, worker, image, prov, engine=engine) else "skipped"


def batches(ids: list[int], engine: Engine | None = None,
            methods: MethodCache | None = None) -> list[list[int]]:
    """Group ids (order kept) into runs of one condition, each at most as long as the
    method batches on the device ``methods`` gives it (default CPU); methods without
    batching give groups of one."""
    engine = engine or get_engine()
    with session_scope(engine) as session:
        rows = {g.id: (g.method_id, g.size, (g.inputs or {}).get("checkpoint"), m.name,
                       "command" in (g.inputs or {}))
                for g, m in session.execute(
                    select(Generation, Method).join(Method, Method.id == Generation.method_id)
                    .where(Generation.id.in_(ids)))}
    groups: list[list[int]] = []
    open_groups: dict[tuple, list[int]] = {}
    for gen_id in ids:
        key = rows[gen_id]
        if key[4]:  # a command: one process per generation
            cap = 1
        else:
            cls = registry.get(key[3])
            cap = cls.batch_limit(methods.device_for(cls) if methods is not None else "cpu")
        group = open_groups.get(key)
        if group is None or len(group) >= cap:
            group = []
            groups.append(group)
            open_groups[key] = group
        group.append(gen_id)
    return groups


#: statuses as people see them: a running row whose claimant is gone is "interrupted"
#: (it stays claimed in the database; the next run takes it over)
STATUS_SHOWN = (GenerationState.DONE, GenerationState.RUNNING, "interrupted",
                GenerationState.FAILED, GenerationState.PENDING)


def set_counts(set_name: str, engine: Engine | None = None) -> dict[str, int]:
    """Generations of a set by status (see ``STATUS_SHOWN``)."""
    engine = engine or get_engine()
    with session_scope(engine) as session:
        cset = comparison_set(session, set_name)
        rows = session.execute(
            select(Generation.status, Generation.claimed_by, Generation.claimed_until)
            .join(ComparisonSetMember, ComparisonSetMember.generation_id == Generation.id)
            .where(ComparisonSetMember.set_id == cset.id)).all()
    counts = dict.fromkeys(STATUS_SHOWN, 0)
    for status, claimed_by, claimed_until in rows:
        if status == GenerationState.RUNNING and _claim_is_dead(claimed_by, claimed_until):
            status = "interrupted"
        counts[status] += 1
    return counts


def run_local(ids: Iterable[int], methods: MethodCache, retry_failed: bool = False,
              progress=None, engine: Engine | None = None) -> dict[str, int]:
    """Run generations in this process, batching those of a condition that allows it."""
    worker = worker_id()
    tally = {"done": 0, "failed": 0, "skipped": 0}
    for group in batches(list(ids), engine, methods):
        for state in run_group(group, worker, methods, retry_failed, engine):
            tally[state] += 1
        if progress is not None:
            progress.update(len(group))
            progress.set_postfix(tally, refresh=False)
    return tally


__all__ = ["Shard", "plan", "pending_ids", "claim", "run_group", "run_local", "batches",
           "set_counts", "status_of", "failures", "MethodCache", "Job", "load_job", "execute",
           "execute_batch", "finish", "worker_id", "set_generations", "Planned", "STATUS_SHOWN",
           "is_interrupted"]
