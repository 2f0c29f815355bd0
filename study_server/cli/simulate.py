"""`stylestudy simulate`: simulated participants through the real HTTP API."""

from __future__ import annotations

import json

import click

from stylestudy.errors import UserError

__all__ = ["commands"]


def _strengths(values: tuple[str, ...]) -> dict[str, float]:
    out = {}
    for v in values:
        label, sep, num = v.rpartition("=")
        try:
            out[label] = float(num)
        except ValueError:
            label = ""
        if not sep or not label:
            raise UserError(f"--strength expects LABEL=NUMBER, got {v!r}")
    return out


@click.command("simulate")
@click.argument("study")
@click.option("--participants", "-n", required=True, type=click.IntRange(1, 100_000))
@click.option("--strength", "strengths", multiple=True, metavar="LABEL=S",
              help="Latent strength of a method (default 0); repeat per method.")
@click.option("--noise", default=1.0, show_default=True, type=click.FloatRange(0))
@click.option("--lapse", default=0.0, show_default=True, type=click.FloatRange(0, 1),
              help="Probability of a random click per trial.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--url", default=None, help="A running server (default: start one in-process).")
@click.option("--concurrency", default=4, show_default=True, type=click.IntRange(1, 512))
@click.option("--not-sure-below", default=0.0, show_default=True, type=click.FloatRange(0),
              help="Indifference threshold: answer 'not sure' when the noisy strength "
                   "difference is within ±this (studies with allow_not_sure only).")
def simulate_cmd(study: str, participants: int, strengths: tuple[str, ...], noise: float,
                 lapse: float, seed: int, url: str | None, concurrency: int,
                 not_sure_below: float) -> None:
    """Run simulated participants through STUDY over the real HTTP API."""
    from stylestudy.study_server.ops.simulate import simulate

    res = simulate(study, participants, strengths=_strengths(strengths), noise=noise, seed=seed,
                   url=url, concurrency=concurrency, lapse=lapse,
                   not_sure_below=not_sure_below)
    click.echo(json.dumps({"participants": res.participants, "completed": res.completed,
                           "responses": res.responses, "outcomes": dict(res.outcomes),
                           "refused": dict(res.refused)}))


commands: list = [simulate_cmd]
