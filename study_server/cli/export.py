"""`stylestudy study export` and `stylestudy study payments`: judgments, events and payment lists.

Both join the ``study`` group of ``stylestudy.study_server.cli.study``."""

from __future__ import annotations

from pathlib import Path

import click

from stylestudy.errors import UserError
from stylestudy.fileio import write_atomic
from stylestudy.study_server.cli import get_study
from stylestudy.study_server.cli.study import study_group

__all__ = ["commands"]


@study_group.command("export")
@click.argument("slug")
@click.option("--format", "fmt", type=click.Choice(["pwcmp", "long", "json", "events"]),
              default="long", show_default=True)
@click.option("--question", help="pwcmp: the question (content, style or one the study "
                                 "declares); one file per question.")
@click.option("-o", "--out", type=click.Path(dir_okay=False), help="Output file (default stdout).")
def export_cmd(slug: str, fmt: str, question: str | None, out: str | None) -> None:
    """Export judgments (pwcmp CSV, the long CSV, jsPsych-like JSON) or session events."""
    from stylestudy.db.engine import session_scope
    from stylestudy.study_server.study import exports

    with session_scope() as s:
        text = exports.render(s, slug, fmt, question)
    if out:
        _write(out, text)
    else:
        click.echo(text, nl=False)


@study_group.command("payments")
@click.argument("slug")
@click.option("--ids-only", type=click.Choice(["approved", "screened_out", "rejected"]),
              help="Print only the PROLIFIC_PIDs with this decision, one a line "
                   "(for Prolific's bulk approve dialog).")
@click.option("-o", "--out", type=click.Path(dir_okay=False),
              help="Output file, created readable by its owner only (default stdout).")
def payments_cmd(slug: str, ids_only: str | None, out: str | None) -> None:
    """Restricted: raw platform IDs of the reviewed sessions, for paying them."""
    from stylestudy import config
    from stylestudy.db.engine import session_scope
    from stylestudy.study_server.platforms import payments

    study = get_study(slug)
    with session_scope() as s:
        rows = payments.payment_rows(s, study, config.secret_key())
    text = (payments.prolific_ids(study, rows, ids_only) if ids_only
            else payments.render(study, rows))
    if out:
        _write(out, text, mode=0o600)  # raw platform IDs: the owner only, even over a file
    else:
        click.echo(text, nl=False)


def _write(path: str, text: str, mode: int | None = None) -> None:
    """Write ``text`` to ``path`` atomically (a reader sees the old file or the whole new
    one), with ``mode`` when given; one clear error when it cannot be written."""
    if not Path(path).parent.is_dir():
        raise UserError(f"cannot write {path}: its folder does not exist")
    try:
        write_atomic(path, text.encode(), mode)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror}") from None


#: the commands join the study group above; nothing to add at the top level
commands: list = []
