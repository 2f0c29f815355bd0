"""`stylestudy set list|show|export` and `stylestudy figure`."""

from __future__ import annotations

import click

from stylestudy.db.states import GenerationState
from stylestudy.errors import UserError


@click.group("set")
def set_group() -> None:
    """Comparison sets: list them, see one, export its outputs with a gallery."""


@set_group.command("list")
def list_cmd() -> None:
    """Every comparison set with its counts by status."""
    from stylestudy.generator.sets import list_sets

    rows = list_sets()
    if not rows:
        click.echo("no comparison sets yet (stylestudy generate MANIFEST makes one)")
        return
    width = max(len("set"), *(len(r[0]) for r in rows))
    click.echo(f"{'set':<{width}}  conditions  generations  done  failed  other  created")
    for name, created, counts, conditions in rows:
        done, failed = counts[GenerationState.DONE], counts[GenerationState.FAILED]
        other = sum(counts.values()) - done - failed
        click.echo(f"{name:<{width}}  {conditions:>10}  {sum(counts.values()):>11}  "
                   f"{done:>4}  {failed:>6}  {other:>5}  "
                   f"{created:%Y-%m-%d %H:%M}")


@set_group.command("show")
@click.argument("set_name", metavar="SET")
def show_cmd(set_name: str) -> None:
    """Conditions, counts by status, sizes, inputs and failures of SET."""
    from stylestudy.generator.sets import summarise

    s = summarise(set_name)
    click.echo(f"comparison set {s.name!r}: {s.total} generations, created "
               f"{s.created_at:%Y-%m-%d %H:%M}")
    click.echo("  " + ", ".join(f"{state} {n}" for state, n in s.counts.items()))
    sizes = ", ".join("content size" if x is None else str(x) for x in s.sizes)
    made = ", ".join(f"{w}×{h}" for w, h in s.output_sizes[:8])
    more = f" (+{len(s.output_sizes) - 8} more)" if len(s.output_sizes) > 8 else ""
    click.echo(f"  size (long side): {sizes}; outputs: {made or 'none yet'}{more}")
    click.echo(f"  seeds: {', '.join(map(str, s.seeds))}; {s.pairs} pairs of "
               f"{len(s.contents)} contents ({_some(s.contents)}) × {len(s.styles)} "
               f"styles ({_some(s.styles)})")
    head = ("condition", "method", "version", "from", *s.counts)
    rows = [(c.label, c.name, c.version, c.source, *map(str, c.counts.values()))
            for c in s.conditions]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    for r in [head, *rows]:
        click.echo("  " + "  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True))
                   .rstrip())
    for c in s.conditions:
        if c.params:
            click.echo(f"  {c.label} parameters: "
                       + ", ".join(f"{k}={v}" for k, v in sorted(c.params.items())))
    for label, content, style, seed, error in s.failures:
        click.echo(f"  FAILED {label} on {content} × {style} (seed {seed}): {error}")


def _some(names: list[str], limit: int = 12) -> str:
    more = f", ... {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


@set_group.command("export")
@click.argument("set_name", metavar="SET")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder for the outputs, provenance.csv and the gallery index.html.")
def export_cmd(set_name: str, out_dir: str) -> None:
    """Copy SET's outputs under readable names (content__style__label.png), with a
    provenance CSV and an HTML gallery (index.html)."""
    from stylestudy.generator.sets import export

    done = export(set_name, out_dir)
    click.echo(f"{done.outputs} outputs in {done.folder}; provenance: {done.csv}; "
               f"gallery: {done.gallery}")


def _pairs(values: tuple[str, ...]) -> list[tuple[str, str]] | None:
    items = [v.strip() for value in values for v in value.split(",") if v.strip()]
    pairs = []
    for item in items:
        content, sep, style = item.partition(":")
        if not sep or not content or not style:
            raise UserError(f"--pairs takes CONTENT:STYLE items (file names or stems), got "
                            f"{item!r}")
        pairs.append((content, style))
    return pairs or None


@click.command("figure")
@click.argument("set_name", metavar="SET")
@click.option("--pairs", "pairs", multiple=True,
              help="CONTENT:STYLE rows, comma-separated or repeated [default: every pair].")
@click.option("--conditions", "conditions", multiple=True,
              help="Condition labels for the columns, comma-separated or repeated "
                   "[default: all].")
@click.option("--seed", type=int, default=None, help="Which seed [default: the lowest].")
@click.option("--cell-width", type=click.IntRange(16, 4096), default=None,
              help="Pixels per column [default: the widest output].")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False),
              help="The PDF to write; the PNG and the LaTeX snippet (.tex) go beside it.")
def figure_cmd(set_name: str, pairs: tuple[str, ...], conditions: tuple[str, ...],
               seed: int | None, cell_width: int | None, out: str) -> None:
    """The qualitative grid of SET (content, style, then each condition) as PDF and PNG,
    with a LaTeX figure that labels the columns."""
    from stylestudy.generator.figure import make_figure

    labels = [c.strip() for value in conditions for c in value.split(",") if c.strip()]
    files = make_figure(set_name, out, _pairs(pairs), labels or None, seed, cell_width)
    click.echo(f"written: {files.pdf}, {files.png}, {files.tex}")


commands = [set_group, figure_cmd]
