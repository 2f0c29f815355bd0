"""`stylestudy methods` and `stylestudy generate`."""

from __future__ import annotations

import click

from stylestudy.db.states import GenerationState
from stylestudy.generator import manifest as manifest_mod
from stylestudy.generator import method as registry
from stylestudy.generator import runner
from stylestudy.generator.sets_cli import commands as set_commands


def _source(name: str) -> str:
    plugin = registry.plugin_of(name)
    return "built-in" if plugin is None else f"plugin {plugin.distribution} {plugin.version}"


@click.command("methods")
def methods_cmd() -> None:
    """List the registered methods (built-in and installed plugins) with version, kind,
    requirements and where each comes from."""
    head = ("method", "version", "kind", "needs", "from")
    rows = [(m.name, m.version, m.kind, ", ".join(m.requirements()) or "-", _source(m.name),
             m.summary) for m in registry.available().values()]
    widths = [max(len(r[i]) for r in [*rows, head]) for i in range(len(head))]
    click.echo("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)) + "  summary")
    for r in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r[:-1], widths, strict=True))
                   + "  " + r[-1])
    for plugin, error in registry.broken_plugins().items():
        click.echo(f"plugin {plugin} failed to load: {error}", err=True)


def _eta(set_name: str) -> str:
    """Time left from the recorded wall times of finished rows of the same methods."""
    from stylestudy.db.engine import session_scope

    with session_scope() as session:
        gens = runner.set_generations(set_name, session)
        done: dict[int, list[float]] = {}
        for g in gens:
            if g.status == GenerationState.DONE and g.wall_time_s is not None:
                done.setdefault(g.method_id, []).append(g.wall_time_s)
        overall = [t for ts in done.values() for t in ts]
        if not overall:
            return "unknown (nothing finished yet)"
        fallback = sum(overall) / len(overall)
        waiting = (GenerationState.PENDING, GenerationState.RUNNING)
        left = sum(sum(done[g.method_id]) / len(done[g.method_id]) if g.method_id in done
                   else fallback for g in gens if g.status in waiting)
    return f"{left / 60:.1f} min of compute at the recorded per-method mean wall times"


def print_status(spec: manifest_mod.Manifest) -> None:
    """Counts by status, time left and failures; before the first run, what is planned."""
    from sqlalchemy import select

    from stylestudy.db.engine import session_scope
    from stylestudy.db.models import ComparisonSet

    with session_scope() as session:
        exists = session.scalar(select(ComparisonSet.id).where(
            ComparisonSet.name == spec.name)) is not None
    if not exists:
        click.echo(f"comparison set {spec.name!r}: not generated yet; the manifest plans "
                   f"{spec.n_generations} generations ({len(spec.conditions)} conditions × "
                   f"{len(spec.pairs)} pairs × {len(spec.seeds)} seeds)")
        return
    counts = runner.set_counts(spec.name)
    click.echo(f"comparison set {spec.name!r}: {sum(counts.values())} generations")
    waiting = _waiting_for_files(spec.name)
    for state in runner.STATUS_SHOWN:
        note = ""
        if state == "interrupted" and counts[state]:
            note = "  (their process is gone; the next run takes them over)"
        elif state == GenerationState.PENDING and waiting:
            note = f"  ({waiting} wait for pre-made files)"
        click.echo(f"  {state:11s} {counts[state]}{note}")
    click.echo(f"  time left: {_eta(spec.name)}")
    for label, content, style, error in runner.failures(spec.name):
        click.echo(f"  FAILED {label} on {content} × {style}: {error}")


def _waiting_for_files(set_name: str) -> int:
    from stylestudy.db.engine import session_scope

    with session_scope() as session:
        return sum(1 for g in runner.set_generations(set_name, session)
                   if g.status == GenerationState.PENDING and "premade" in (g.inputs or {}))


@click.command("generate")
@click.argument("manifest", type=click.Path(dir_okay=False))
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local",
              show_default=True, help="Where the work runs.")
@click.option("--workers", type=click.IntRange(0), default=0,
              help="Local worker processes [default: one per GPU, else 1].")
@click.option("--shard", default="0/1", show_default=True,
              help="Run only job i of N (0-based), e.g. for a SLURM array.")
@click.option("--device", default="auto", show_default=True,
              help="auto (GPU for methods that prefer it), cpu, cuda or cuda:N.")
@click.option("--status", "status_only", is_flag=True,
              help="Show done/running/interrupted/failed/pending counts and time left; "
                   "run nothing.")
@click.option("--retry-failed", is_flag=True, help="Run failed generations again.")
@click.option("--extend", is_flag=True,
              help="Accept a manifest that differs from the stored set of the same name "
                   "(other conditions, size, seeds or inputs): the set grows.")
@click.option("--replace-changed", is_flag=True,
              help="Import pre-made files that changed since they were imported, in place "
                   "of the stored outputs (refused while a study shows them).")
@click.option("--allow-random-weights", is_flag=True,
              help="Use random weights where pretrained ones are missing (uncalibrated).")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def generate_cmd(manifest: str, executor: str, workers: int, shard: str, device: str,
                 status_only: bool, retry_failed: bool, extend: bool, replace_changed: bool,
                 allow_random_weights: bool, no_progress: bool) -> None:
    """Generate every missing output of MANIFEST; safe to kill and re-run at any point.

    Pre-made outputs are imported from their files on every run, so a run after adding
    files completes the set. Exits 1 when the set (this shard) is not complete.
    """
    from stylestudy.generator import premade

    spec = manifest_mod.load(manifest)
    part = runner.Shard.parse(shard)
    if status_only:
        print_status(spec)
        return
    planned = runner.plan(spec, extend=extend)
    reports = premade.import_outputs(spec, planned, part, replace_changed)
    ids = runner.pending_ids(spec.name, part, retry_failed)
    allow_random = allow_random_weights or spec.allow_random_weights
    click.echo(f"{spec.name}: {spec.n_generations} generations in the set, "
               f"{len(ids)} to run" + (f" in shard {shard}" if part.count > 1 else "")
               + (f", {sum(r.imported for r in reports)} pre-made imported" if reports
                  else ""))
    if ids and executor == "ray":
        from stylestudy.generator.ray_executor import run_ray

        tally = run_ray(spec.name, ids, device, allow_random, retry_failed,
                        show_progress=not no_progress)
    elif ids:
        from stylestudy.generator.executors import default_workers, run_pool

        tally = run_pool(spec.name, ids, workers or default_workers(), device, allow_random,
                         retry_failed, show_progress=not no_progress)
    else:
        tally = {"done": 0, "failed": 0, "skipped": 0}
    click.echo(f"done {tally['done']}, failed {tally['failed']}, "
               f"skipped (taken by another job) {tally['skipped']}")
    print_status(spec)
    for report in reports:
        if report.incomplete or report.extra:
            click.echo(report.message(), err=True)
    if runner.set_counts(spec.name)[GenerationState.FAILED] or any(r.incomplete for r in reports):
        raise SystemExit(1)


commands = [methods_cmd, generate_cmd, *set_commands]
