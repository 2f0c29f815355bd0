"""`stylestudy train`: trains an image-translation model (``stylestudy.generator.translation``)."""

from __future__ import annotations

import click

from stylestudy.errors import UserError
from stylestudy.generator.translation.profiles import METHODS, PROFILES

__all__ = ["commands", "train_cmd"]


@click.command("train")
@click.argument("method", type=click.Choice(METHODS))
@click.option("--data", required=True, type=click.Path(file_okay=False),
              help="A data set folder from `stylestudy digits build`.")
@click.option("--profile", "profile_name", default="cpu", show_default=True,
              type=click.Choice(PROFILES))
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
@click.option("--variant", default=None,
              type=click.Choice(["nips2017", "egsc-it"]),
              help="UNIT network: nips2017 (CoVAE32x32, the default) or egsc-it (the UNIT "
                   "baseline of EGSC-IT's paper: its stage-2 network without mask, AdaIN and "
                   "perceptual losses).")
@click.option("--norm", default="none", show_default=True, type=click.Choice(["none", "in"]),
              help="EGSC-IT generator residual-block norm (the release's --norm option; "
                   "launched with none).")
@click.option("--allow-random-weights", is_flag=True,
              help="Use a random fixed VGG19 if its weights are missing (uncalibrated).")
@click.option("--threads", default=None, type=int,
              help="CPU threads for torch (1 is fastest on a busy machine).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def train_cmd(method: str, data: str, profile_name: str, out: str, seed: int, device: str,
              ablation: str, adain_variant: str, variant: str | None, norm: str,
              allow_random_weights: bool, threads: int | None, quiet: bool) -> None:
    """Train METHOD (egsc-it, cyclegan, unit, munit) on a digit data set; resumable."""
    import torch

    from stylestudy.generator.translation.train import train

    if threads is not None:
        if threads < 1:
            raise UserError("--threads must be >= 1")
        torch.set_num_threads(threads)
    path = train(method, data, profile_name, out, seed=seed, device=device, ablation=ablation,
                 adain_variant=adain_variant, allow_random_weights=allow_random_weights,
                 progress=not quiet, norm=None if norm == "none" else norm, variant=variant)
    click.echo(f"checkpoint: {path}")


commands: list = [train_cmd]
