"""`stylestudy methods` and `stylestudy generate`."""

from __future__ import annotations

import click

from generator import manifest as manifest_mod
from generator import method as registry
from generator import runner


@click.command("methods")
def methods_cmd() -> None:
    """List the registered methods with version, kind and requirements."""
    rows = [(m.name, m.version, m.kind, ", ".join(m.requirements()) or "-", m.summary)
            for m in registry.available().values()]
    widths = [max(len(r[i]) for r in rows + [("method", "version", "kind", "needs", "")])
              for i in range(4)]
    head = ("method", "version", "kind", "needs")
    click.echo("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)) + "  summary")
    for r in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r[:4], widths, strict=True))
                   + "  " + r[4])


def _eta(set_name: str) -> str:
    """Time left from the recorded wall times of finished rows of the same methods."""
    from db.engine import session_scope

    with session_scope() as session:
        gens = runner.set_generations(set_name, session)
        done: dict[int, list[float]] = {}
        for g in gens:
            if g.status == "done" and g.wall_time_s is not None:
                done.setdefault(g.method_id, []).append(g.wall_time_s)
        overall = [t for ts in done.values() for t in ts]
        if not overall:
            return "unknown (nothing finished yet)"
        fallback = sum(overall) / len(overall)
        left = sum(sum(done[g.method_id]) / len(done[g.method_id]) if g.method_id in done
                   else fallback for g in gens if g.status in ("pending", "running"))
    return f"{left / 60:.1f} min of compute at the recorded per-method mean wall times"


def print_status(set_name: str) -> None:
    counts = runner.set_counts(set_name)
    total = sum(counts.values())
    click.echo(f"comparison set {set_name!r}: {total} generations")
    for state in ("done", "running", "failed", "pending"):
        click.echo(f"  {state:8s} {counts[state]}")
    click.echo(f"  time left: {_eta(set_name)}")
    for label, content, style, error in runner.failures(set_name):
        click.echo(f"  FAILED {label} on {content} × {style}: {error}")


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
              help="Show done/running/failed/pending counts and time left; run nothing.")
@click.option("--retry-failed", is_flag=True, help="Run failed generations again.")
@click.option("--allow-random-weights", is_flag=True,
              help="Use random weights where pretrained ones are missing (uncalibrated).")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def generate_cmd(manifest: str, executor: str, workers: int, shard: str, device: str,
                 status_only: bool, retry_failed: bool, allow_random_weights: bool,
                 no_progress: bool) -> None:
    """Generate every missing output of MANIFEST; safe to kill and re-run at any point."""
    spec = manifest_mod.load(manifest)
    part = runner.Shard.parse(shard)
    if status_only:
        print_status(spec.name)
        return
    runner.plan(spec)
    ids = runner.pending_ids(spec.name, part, retry_failed)
    allow_random = allow_random_weights or spec.allow_random_weights
    click.echo(f"{spec.name}: {spec.n_generations} generations in the set, "
               f"{len(ids)} to run" + (f" in shard {shard}" if part.count > 1 else ""))
    if executor == "ray":
        from generator.ray_executor import run_ray

        tally = run_ray(spec.name, ids, device, allow_random, retry_failed,
                        show_progress=not no_progress)
    else:
        from generator.executors import default_workers, run_pool

        tally = run_pool(spec.name, ids, workers or default_workers(), device, allow_random,
                         retry_failed, show_progress=not no_progress)
    click.echo(f"done {tally['done']}, failed {tally['failed']}, "
               f"skipped (taken by another job) {tally['skipped']}")
    print_status(spec.name)
    if runner.set_counts(spec.name)["failed"]:
        raise SystemExit(1)


commands = [methods_cmd, generate_cmd]
