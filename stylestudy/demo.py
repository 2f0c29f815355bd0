"""`stylestudy demo`: the whole loop on bundled images — generate, study, simulate, analyse."""

from __future__ import annotations

import secrets
import shutil
import time
from importlib import resources
from pathlib import Path
from typing import Any

import click
import yaml

from stylestudy import config
from stylestudy.errors import UserError
from stylestudy.fileio import write_atomic

SET_NAME = "demo-set"
TRIALS_PER_SESSION = 20
SLUG = "demo"
#: methods that need no pretrained weights
BASE_METHODS: list[dict[str, Any]] = [
    {"name": "reinhard"},
    {"name": "histogram-match"},
    {"name": "content-copy"},
    {"name": "style-copy"},
]
#: methods with pretrained weights, and the weights `stylestudy weights fetch` gets for them
PRETRAINED: list[tuple[dict[str, Any], list[str]]] = [
    # STROTSS's quick preset (30 iterations per scale; labelled "not the paper setting")
    ({"name": "strotss", "label": "strotss-quick", "params": {"preset": "quick"}}, ["vgg16"]),
    # Gatys with 100 L-BFGS iterations instead of 1000, so that the demo stays short
    ({"name": "gatys", "label": "gatys-100it", "params": {"iterations": 100}},
     ["vgg19-caffe-q8"]),
    ({"name": "magenta"}, ["magenta-predict", "magenta-transform"]),
]
#: three contents × two styles: every item has a catch partner in both questions
PAIRS = [[c, s] for c in ("astronaut.png", "chelsea.png", "coffee.png")
         for s in ("hubble.png", "ihc.png")]
#: simulated participants' per-question strengths (Thurstone scale, noise 1): the copies
#: are the extremes of each question, the colour transfers sit in between
STRENGTHS = {
    "content": {"content-copy": 2.0, "reinhard": 1.0, "histogram-match": 0.8,
                "magenta": 0.4, "strotss-quick": 0.2, "gatys-100it": -0.2, "style-copy": -2.0},
    "style": {"style-copy": 2.0, "strotss-quick": 1.2, "gatys-100it": 1.0, "magenta": 0.8,
              "histogram-match": 0.6, "reinhard": 0.5, "content-copy": -2.0},
}
#: attentive participants: a catch distractor sits this far below the weakest method, so a
#: catch trial is failed with probability at most Φ(−9/√2) ≈ 1e-10 (noise 1), under 1e-7
#: for all ~300 catch trials of the demo; nobody is excluded, and the analysis sees every
#: judgment, which are the same for the same seed (study_server/ops/simulate.py)
CATCH_GAP = 9.0


def _copy_images(target: Path) -> tuple[list[str], list[str]]:
    """Copy the bundled images next to the demo manifest; return relative paths."""
    src = resources.files("stylestudy") / "demo_data"
    out: dict[str, list[str]] = {"contents": [], "styles": []}
    for kind in out:
        (target / kind).mkdir(parents=True, exist_ok=True)
        for item in sorted(src.joinpath(kind).iterdir(), key=lambda p: p.name):
            if item.name.endswith(".png"):
                dest = target / kind / item.name
                if not dest.exists():
                    with resources.as_file(item) as path:
                        shutil.copyfile(path, dest)
                out[kind].append(f"images/{kind}/{item.name}")
    return out["contents"], out["styles"]


def _pretrained_methods() -> tuple[list[dict[str, Any]], list[str]]:
    """Method entries whose weights are here or could be fetched, and notes on the rest."""
    from stylestudy.generator import method as registry
    from stylestudy.generator.weights import fetch

    entries, notes = [], []
    for entry, weights in PRETRAINED:
        if entry["name"] not in registry.available():
            continue
        try:
            for name in weights:
                fetch(name)
        except UserError as exc:
            notes.append(f"skipped {entry['name']}: {exc.message}")
            continue
        entries.append(entry)
    return entries, notes


def write_manifest(folder: Path, size: int, methods: list[dict[str, Any]]) -> Path:
    contents, styles = _copy_images(folder / "images")
    manifest = {"name": SET_NAME, "size": size, "seeds": [0], "contents": contents,
                "styles": styles, "pairs": PAIRS, "methods": methods}
    path = folder / "manifest.yaml"
    write_atomic(path, yaml.safe_dump(manifest, sort_keys=False).encode())
    return path


def study_spec(labels: list[str], judgments: int) -> dict[str, Any]:
    return {"slug": SLUG, "title": "stylestudy demo", "comparison_set": SET_NAME,
            "questions": ["content", "style"], "methods": labels,
            "judgments_per_cell": judgments, "trials_per_session": TRIALS_PER_SESSION,
            "practice_trials": 2, "platform": "link", "participant_param": "participant"}


@click.command("demo")
@click.option("--no-serve", is_flag=True, help="Stop after the analysis; don't serve.")
@click.option("--participants", default=0, type=click.IntRange(0),
              help="Simulated participants, at most (default: until the design is full).")
@click.option("--judgments", default=3, show_default=True, type=click.IntRange(1),
              help="Target judgments per design cell.")
@click.option("--size", default=128, show_default=True, type=click.IntRange(16, 1024),
              help="Output long side in pixels.")
@click.option("--no-pretrained", is_flag=True,
              help="Only methods that need no pretrained weights.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
def demo_cmd(no_serve: bool, participants: int, judgments: int, size: int,
             no_pretrained: bool, port: int) -> None:
    """Generate a comparison set, create a study, simulate participants, analyse, serve."""
    from sqlalchemy import select

    from stylestudy.analysis.api import analyze_study
    from stylestudy.db.engine import session_scope
    from stylestudy.db.models import Study
    from stylestudy.generator import manifest as manifest_mod
    from stylestudy.generator import runner
    from stylestudy.generator.executors import run_pool
    from stylestudy.study_server.ops.simulate import simulate
    from stylestudy.study_server.study.studies import create_study, design_summary

    t0 = time.time()
    home = config.home()
    folder = home / "demo"
    click.echo(f"stylestudy demo — data in {home} (set STYLESTUDY_HOME to change)")
    methods = list(BASE_METHODS)
    if not no_pretrained:
        extra, notes = _pretrained_methods()
        methods += extra
        for note in notes:
            click.echo(f"  note: {note}")
    path = write_manifest(folder, size, methods)

    click.secho("\n1. Generating the comparison set", bold=True)
    spec = manifest_mod.load(path)
    runner.plan(spec)
    ids = runner.pending_ids(spec.name, retry_failed=True)
    run_pool(spec.name, ids, 1, retry_failed=True)
    counts = runner.set_counts(spec.name)
    click.echo(f"   {counts['done']} outputs ({counts['failed']} failed) from "
               f"{len(spec.conditions)} methods × {len(spec.pairs)} content/style pairs")
    _print_weights(spec.name)

    click.secho("\n2. Creating the study", bold=True)
    labels = [c.label for c in spec.conditions]
    with session_scope() as s:
        study = s.scalar(select(Study).where(Study.slug == SLUG))
    if study is None:
        study = create_study(study_spec(labels, judgments))
    cells = design_summary(study.id)
    click.echo(f"   study {SLUG!r}: {cells}")

    click.secho("\n3. Simulated participants (through the real HTTP API)", bold=True)
    # by default until the design is full: every cell then has all its judgments
    n = participants or _participants_bound(cells, judgments)
    labels_here = set(labels)
    strengths = {q: {k: v for k, v in table.items() if k in labels_here}
                 for q, table in STRENGTHS.items()}
    result = simulate(SLUG, n, strengths=strengths, noise=1.0, seed=0, catch_gap=CATCH_GAP,
                      stop_when_full=True)
    click.echo(f"   {result.participants} participants, {result.completed} completed, "
               f"{result.responses} responses; refused: {dict(result.refused) or 'none'}")

    click.secho("\n4. Analysis", bold=True)
    report = analyze_study(SLUG, out_dir=folder / "report")
    click.echo(str(report))
    click.echo(f"\n   report: {folder / 'report' / 'report.html'}")
    click.echo(f"   demo finished in {time.time() - t0:.0f} s")

    if no_serve:
        return
    _serve(port)


def _participants_bound(cells: dict[str, int], judgments: int) -> int:
    """Sessions enough to fill every real cell's target: each gets at least one."""
    return max(4, judgments * sum(n for key, n in cells.items() if key.endswith("/real")))


def _print_weights(set_name: str) -> None:
    from stylestudy.db.engine import session_scope
    from stylestudy.generator import runner

    with session_scope() as s:
        seen: dict[str, str] = {}
        for g in runner.set_generations(set_name, s):
            used = (g.provenance or {}).get("weights") or {}
            if used:
                seen[g.method.label] = ", ".join(
                    f"{k} (sha256 {v.get('sha256', '?')[:12]}…"
                    f"{', UNCALIBRATED' if not v.get('calibrated', True) else ''})"
                    for k, v in used.items())
    for label, text in sorted(seen.items()):
        click.echo(f"   {label}: weights {text}")


def _serve(port: int) -> None:
    from stylestudy.study_server.ops.serve import run_dev
    from stylestudy.study_server.web.admin import set_admin_password

    password = secrets.token_urlsafe(12)
    set_admin_password("admin", password)
    base = f"http://127.0.0.1:{port}"
    click.secho("\n5. Serving the study (Ctrl-C to stop)", bold=True)
    click.echo(f"   participant link: {base}/study/{SLUG}?participant=you")
    click.echo(f"   admin:            {base}/admin/  (user admin, password {password})")
    run_dev("127.0.0.1", port)


commands = [demo_cmd]
