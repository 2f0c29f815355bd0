"""`stylestudy preset strotss-study`: a manifest and a study spec in one step."""

from __future__ import annotations

from pathlib import Path

import click
import yaml


@click.group("preset")
def preset_group() -> None:
    """Manifests and study specs that rerun a paper's user study (docs/study-presets.md)."""


@preset_group.command("strotss-study")
@click.option("--contents", required=True, type=click.Path(path_type=Path),
              help="Folder of content images.")
@click.option("--styles", required=True, type=click.Path(path_type=Path),
              help="Folder of style images.")
@click.option("--size", type=click.IntRange(16, 4096), default=None,
              help="Output long side in pixels (default 512; 64 with --quick).")
@click.option("--out", type=click.Path(path_type=Path), default=Path("strotss-study"),
              show_default=True, help="Folder for manifest.yaml and study.yaml.")
@click.option("--quick", is_flag=True,
              help="Two contents × two styles, STROTSS and Gatys at two settings each with "
                   "few iterations: a pipeline test, not a result.")
@click.option("--methods", default=None,
              help="Comma-separated methods of the preset to include (default: every one "
                   "that can run here).")
@click.option("--name", default="strotss-study", show_default=True,
              help="Comparison set name and study slug.")
@click.option("--judgments", type=click.IntRange(1), default=None,
              help="Target judgments per design cell (default 5; 1 with --quick).")
def strotss_study_cmd(contents: Path, styles: Path, size: int | None, out: Path, quick: bool,
                      methods: str | None, name: str, judgments: int | None) -> None:
    """Write the STROTSS trade-off study (§5): each method at several settings of its
    content/style knob, content and style asked separately, catch trials."""
    from stylestudy.generator.preset import strotss_study

    wanted = [m.strip() for m in methods.split(",") if m.strip()] if methods else None
    manifest, spec, notes = strotss_study(contents, styles, out, size=size, quick=quick,
                                          methods=wanted, name=name, judgments=judgments)
    for note in notes:
        click.echo(f"note: {note}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "manifest.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    (out / "study.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    conditions = len(spec["methods"])
    click.echo(f"wrote {out / 'manifest.yaml'} ({conditions} conditions of "
               f"{len(manifest['methods'])} methods) and {out / 'study.yaml'}")
    click.echo(f"next: stylestudy generate {out / 'manifest.yaml'}; stylestudy study create "
               f"{out / 'study.yaml'}")


commands = [preset_group]
