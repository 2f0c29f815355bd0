"""`stylestudy analyze`, `metrics` and `power` commands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from stylestudy.errors import UserError

__all__ = ["analyze", "commands", "metrics", "power"]


@click.command()
@click.argument("study", required=False)
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False),
              help="Analyse an exported long-format CSV or a pwcmp table instead of a study "
                   "(no database).")
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Output folder (default: analysis-<study>).")
@click.option("--settings", "settings_file", type=click.Path(dir_okay=False),
              help="YAML/JSON with 'qc' and 'analysis' sections; overrides the study spec.")
@click.option("--metrics", "metrics_file", type=click.Path(dir_okay=False),
              help="CSV from 'stylestudy metrics' for the metric-human agreement section.")
@click.option("--quick", is_flag=True,
              help="Per-pair statistics, QC and CSV exports only (no scaling or HTML).")
@click.option("--cohort", default=None, help="Only the judgments of this recruitment cohort.")
@click.option("--question", default=None,
              help="The question of a pwcmp table without a question column: content, "
                   "style or a key the study declared (default content).")
def analyze(study: str | None, csv_path: str | None, out_dir: str | None,
            settings_file: str | None, metrics_file: str | None, quick: bool,
            cohort: str | None, question: str | None) -> None:
    """Preference statistics, JOD scaling, QC and the report for STUDY (or --csv FILE)."""
    from stylestudy.analysis import api

    if (study is None) == (csv_path is None):
        raise UserError("give a STUDY slug or --csv FILE (exactly one)")
    if question is not None and csv_path is None:
        raise UserError("--question is for a pwcmp table given with --csv")
    kw: dict[str, Any] = dict(full=not quick, progress=True, metrics_file=metrics_file,
                              cohort=cohort)
    if csv_path is not None:
        out = Path(out_dir or f"analysis-{Path(csv_path).stem}")
        report = api.analyze_csv(csv_path, out, settings_file, question=question, **kw)
    else:
        assert study is not None  # exactly one of the two, checked above
        out = Path(out_dir or f"analysis-{study}")
        report = api.analyze_study(study, out, settings_file, **kw)
    click.echo(str(report))


@click.command()
@click.argument("comparison_set", required=False)
@click.option("--images", "images_csv", type=click.Path(dir_okay=False),
              help="CSV of method, content, output[, style] image paths instead of a set.")
@click.option("-o", "--out", "out_csv", type=click.Path(dir_okay=False), default=None,
              help="Output CSV (default: metrics-<set>.csv); rows already there are kept.")
@click.option("--lpips", "nets", default="alex,vgg", show_default=True,
              help="LPIPS backbones, comma-separated (alex, vgg); empty for none.")
@click.option("--lpips-backbone", "backbones", multiple=True, metavar="NET=PATH",
              help="Explicit backbone file for an LPIPS net (e.g. alex=alexnet-owt-7be5be79.pth"
                   "); verified like every weights file.")
@click.option("--device", default="cpu", show_default=True, help="torch device.")
@click.option("--batch", default=8, show_default=True, type=click.IntRange(1))
@click.option("--no-gram", is_flag=True, help="Skip the VGG19 Gram style distance.")
@click.option("--allow-random-weights", is_flag=True,
              help="Use a seeded random LPIPS backbone when none is found (columns are "
                   "labelled *_uncalibrated_random_backbone).")
@click.option("--no-diversity", is_flag=True,
              help="Skip the diversity across styles (mean pairwise LPIPS of one content's "
                   "outputs with different styles, written to <out>-diversity.csv).")
def metrics(comparison_set: str | None, images_csv: str | None, out_csv: str | None,
            nets: str, backbones: tuple[str, ...], device: str, batch: int, no_gram: bool,
            allow_random_weights: bool, no_diversity: bool) -> None:
    """SSIM, LPIPS and Gram distances for every output of COMPARISON_SET (or --images), and
    the diversity across styles of each content's outputs."""
    from stylestudy.analysis import metrics as m

    if (comparison_set is None) == (images_csv is None):
        raise UserError("give a COMPARISON_SET name or --images FILE (exactly one)")
    names = tuple(n.strip() for n in nets.split(",") if n.strip())
    bad = [n for n in names if n not in ("alex", "vgg")]
    if bad:
        raise UserError(f"unknown LPIPS backbone(s) {bad}; choose alex, vgg")
    paths = {}
    for item in backbones:
        net, sep, file = item.partition("=")
        if not sep or net not in names:
            raise UserError(f"--lpips-backbone takes NET=PATH with NET one of {list(names)}, "
                            f"got {item!r}")
        paths[net] = file
    if images_csv is not None:
        jobs, name = m.jobs_from_table(images_csv), Path(images_csv).stem
    else:
        assert comparison_set is not None  # exactly one of the two, checked above
        jobs, name = m.jobs_for_set(comparison_set), comparison_set
    out = Path(out_csv or f"metrics-{name}.csv")
    table = m.score(jobs, out, names, device, batch, allow_random_weights, not no_gram,
                    backbones=paths)
    cols = [c for c in table.columns if c.startswith(("ssim", "lpips", "gram"))]
    click.echo(table.groupby("method")[cols].mean().to_string(float_format="%.4f"))
    click.echo(f"written: {out}")
    if names and not no_diversity:
        from stylestudy.analysis import diversity as dv

        path = out.with_name(f"{out.stem}-diversity.csv")
        div = dv.write_diversity(jobs, path, names[0], device, allow_random_weights,
                                 paths.get(names[0]))
        if div is not None:
            click.echo(dv.summarise(div).to_string(float_format="%.4f"))
            click.echo(f"written: {path}")


@click.command()
@click.option("--p1", "p1s", multiple=True, type=float, default=(0.55, 0.6, 0.65, 0.7),
              show_default=True, help="Target preference rate(s) for the better method.")
@click.option("--alpha", default=0.05, show_default=True)
@click.option("--power", "target", default=0.8, show_default=True)
@click.option("--trials-per-worker", "m", default=15, show_default=True, type=click.IntRange(1),
              help="Judgments of one pair per worker (for the design effect).")
@click.option("--sd-worker", default=0.5, show_default=True, help="Worker SD (logit).")
@click.option("--sd-item", default=0.5, show_default=True, help="Item SD (logit).")
@click.option("--simulate", "sim_workers", type=click.IntRange(2), default=None,
              help="Also simulate the crossed design with this many workers.")
@click.option("--items", default=20, show_default=True, type=click.IntRange(1))
@click.option("--sims", default=200, show_default=True, type=click.IntRange(1))
@click.option("--seed", default=0, show_default=True)
@click.option("--study", "study", default=None,
              help="Take workers, items and trials per worker from this study's design and "
                   "simulate it.")
def power(p1s: tuple[float, ...], alpha: float, target: float, m: int, sd_worker: float,
          sd_item: float, sim_workers: int | None, items: int, sims: int, seed: int,
          study: str | None) -> None:
    """Judgments needed per pair (Cohen's h, exact binomial), design effect, simulated power."""
    from stylestudy.analysis import power as pw

    if study is not None:
        d = pw.design_from_study(study)
        click.echo(f"study {study}: {d['workers']} workers, {d['items']} items, {d['pairs']} "
                   f"pairs x {d['questions']} questions, {d['judgments_per_pair']} judgments "
                   f"per pair, {d['trials_per_worker']} trials of a pair per worker")
        m, items, sim_workers = d["trials_per_worker"], d["items"], d["workers"]
    for p in p1s:
        if not 0 < p < 1 or p == 0.5:
            raise UserError(f"--p1 must lie in (0, 1) and differ from 0.5, got {p}")
    de = pw.design_effect(m, pw.icc_logit(sd_worker))
    click.echo(f"design effect (worker SD {sd_worker}, {m} trials/worker): {de:.3f}")
    click.echo(f"{'p1':>5} {'h':>8} {'n normal':>9} {'n exact':>8} {'n stable':>9} "
               f"{'n x DE':>7}")
    for p in p1s:
        r = pw.sample_size(p, alpha, target)
        click.echo(f"{p:5.3f} {r['h']:8.4f} {r['n_normal']:9.2f} {r['n_exact_first']:8.0f} "
                   f"{r['n_exact_stable']:9.0f} {r['n_exact_stable'] * de:7.0f}")
        if sim_workers:
            s = pw.simulate_power(p, sim_workers, m, items, sd_worker, sd_item, alpha, sims,
                                  seed, progress=True)
            click.echo(f"      simulated ({sim_workers} workers x {m} trials, {items} items, "
                       f"{s['sims']} sims): clustered power {s['power_clustered']:.3f}, "
                       f"naive {s['power_naive']:.3f}")


commands: list = [analyze, metrics, power]
