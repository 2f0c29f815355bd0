"""`stylestudy mturk` and `stylestudy prolific`: HITs, reconciliation, payments and bonuses."""

from __future__ import annotations

import click

from stylestudy.errors import UserError
from stylestudy.study_server.cli import get_study

__all__ = ["commands"]


@click.group("mturk")
def mturk_group() -> None:
    """MTurk ExternalQuestion HITs (legacy; MTurk closes 2026-09-30)."""




@mturk_group.command("create-hits")
@click.argument("slug")
@click.option("--live", is_flag=True, help="Use the production requester endpoint "
              "(default: the study's mturk.sandbox setting).")
def create_hits_cmd(slug: str, live: bool) -> None:
    """Create the study's HITs (idempotent: UniqueRequestToken per HIT)."""
    from stylestudy.study_server.platforms import mturk

    study = get_study(slug)
    client, where = _mturk_client(study, live)
    with mturk.api_errors("CreateHIT"):
        ids = mturk.create_hits(client, study)
    click.echo(f"{len(ids)} HIT(s) created in the {where}: {' '.join(ids)}")


@mturk_group.command("reconcile")
@click.argument("slug")
@click.option("--live", is_flag=True, help="Use the production requester endpoint.")
def reconcile_cmd(slug: str, live: bool) -> None:
    """Mark sessions submitted from MTurk's list of assignments."""
    from stylestudy import config
    from stylestudy.db.engine import session_scope
    from stylestudy.study_server.platforms import mturk

    study = get_study(slug)
    client, _ = _mturk_client(study, live)
    with mturk.api_errors("reconcile"), session_scope(write=True) as s:
        n = mturk.reconcile(client, s, study, config.secret_key())
    click.echo(f"{n} session(s) marked submitted")


@mturk_group.command("pay")
@click.argument("slug")
@click.option("--live", is_flag=True, help="Use the production requester endpoint "
              "(default: the study's mturk.sandbox setting).")
@click.option("--dry-run", is_flag=True, help="Print what would be approved or rejected; "
              "change nothing.")
def pay_cmd(slug: str, live: bool, dry_run: bool) -> None:
    """Approve or reject the reviewed sessions' assignments that are still Submitted.

    Sessions reviewed ``approved`` are approved, ``screened_out`` rejected with
    mturk.reject_feedback; unreviewed ones are left alone. MTurk's own assignment status
    makes a re-run safe."""
    from stylestudy import config
    from stylestudy.db.engine import session_scope
    from stylestudy.study_server.platforms import mturk

    study = get_study(slug)
    client, where = _mturk_client(study, live)
    with mturk.api_errors("payment"):
        with session_scope() as s:
            steps = mturk.payment_plan(client, s, study, config.secret_key())
        if not dry_run:
            mturk.pay(client, study, steps)
    _echo_payments(steps, dry_run, where)


def _echo_payments(steps: list, dry_run: bool, where: str) -> None:
    """The summary line of ``mturk pay``; with ``dry_run`` first each call it would make."""
    from collections import Counter

    n = Counter(step.action for step in steps)
    if dry_run:
        for step in steps:
            if step.action in ("approve", "reject"):
                click.echo(f"would {step.action} assignment {step.assignment_id} "
                           f"(session {step.session_id})")
    done = "would approve {}, would reject {}" if dry_run else "approved {}, rejected {}"
    click.echo(f"{done.format(n['approve'], n['reject'])}, already done {n['done']}, "
               f"unreviewed {n['unreviewed']} ({where})")
    if n["unmatched"]:
        click.echo(f"note: {n['unmatched']} assignment(s) carry no valid completion token of "
                   "this study's sessions; left alone", err=True)


def _mturk_client(study, live: bool):
    """The requester client and its mode: production with ``live``, else the study's
    ``mturk.sandbox`` setting."""
    from stylestudy.study_server.platforms import mturk

    sandbox = False if live else bool(study.spec["mturk"]["sandbox"])
    return mturk.make_client(sandbox), "sandbox" if sandbox else "production"


@click.group("prolific")
def prolific_group() -> None:
    """Prolific's API: submission states, approvals and bonuses (token in
    STYLESTUDY_PROLIFIC_TOKEN)."""


_PROLIFIC_STUDY = click.option(
    "--prolific-study", "study_ids", multiple=True, metavar="ID",
    help="Prolific study ID(s) to read (default: the STUDY_IDs participants arrived with).")


@prolific_group.command("reconcile")
@click.argument("slug")
@_PROLIFIC_STUDY
def prolific_reconcile_cmd(slug: str, study_ids: tuple[str, ...]) -> None:
    """Mark sessions submitted (finished on Prolific) or returned, from Prolific's list."""
    from stylestudy.db.engine import session_scope
    from stylestudy.study_server.platforms import prolific

    study = get_study(slug)
    client = prolific.client_from_env()
    with session_scope(write=True) as s:
        moved = prolific.reconcile(client, s, study, study_ids)
    click.echo(f"{moved['submitted']} session(s) marked submitted, "
               f"{moved['returned']} returned")


@prolific_group.command("pay")
@click.argument("slug")
@_PROLIFIC_STUDY
@click.option("--reject-message", default=None,
              help="Shown to participants whose sessions were reviewed 'rejected' "
                   "(at least 100 characters).")
@click.option("--reject-category", default=None, metavar="CATEGORY",
              help="Prolific's rejection category for them, e.g. FAILED_CHECK.")
@click.option("--dry-run", is_flag=True, help="Print what would be done; change nothing.")
def prolific_pay_cmd(slug: str, study_ids: tuple[str, ...], reject_message: str | None,
                     reject_category: str | None, dry_run: bool) -> None:
    """Approve the submissions of sessions reviewed ``approved`` that await review, and
    reject those of sessions reviewed ``rejected`` (failed attention checks).

    Sessions reviewed ``screened_out`` are listed, to settle on Prolific; Prolific's own
    status makes a re-run safe."""
    from collections import Counter

    from stylestudy.db.engine import session_scope
    from stylestudy.study_server.platforms import prolific

    rejection = None
    if reject_message is not None or reject_category is not None:
        if reject_message is None or reject_category is None:
            raise UserError("give both --reject-message and --reject-category")
        rejection = prolific.Rejection(reject_message, reject_category)
    study = get_study(slug)
    client = prolific.client_from_env()
    with session_scope() as s:
        steps = prolific.payment_plan(client, s, study, study_ids)
    for step in steps:
        if step.action in ("approve", "reject") and dry_run:
            click.echo(f"would {step.action} submission {step.submission_id} "
                       f"(session {step.session_id})")
        elif step.action == "settle on Prolific":
            click.echo(f"settle on Prolific: submission {step.submission_id} (session "
                       f"{step.session_id}, reviewed {step.decision}, {step.status})")
    n = Counter(step.action for step in steps)
    if dry_run:
        head = f"would approve {n['approve']}, would reject {n['reject']}"
    else:
        approved, rejected = prolific.pay(client, steps, rejection)
        head = f"approved {approved}, rejected {rejected}"
    click.echo(f"{head}, already done {n['done']}, to settle on Prolific "
               f"{n['settle on Prolific']}, unreviewed {n['unreviewed']}")
    if n["unmatched"]:
        click.echo(f"note: {n['unmatched']} submission(s) match no session of this study; "
                   "left alone", err=True)


@prolific_group.command("bonus")
@click.argument("slug")
@click.option("--reason", required=True,
              help="What the bonus is for (e.g. 'accuracy'); a reason pays a session once.")
@click.option("--amount", default=None, metavar="0.50",
              help="The same bonus for every session reviewed 'approved'.")
@click.option("--csv", "csv_path", default=None, metavar="FILE",
              type=click.Path(dir_okay=False),
              help="Bonuses per session: a CSV with the columns session_id and amount.")
@click.option("--max-amount", default="10.00", show_default=True,
              help="Refuse any single bonus above this (the study's currency).")
@click.option("--prolific-study", "fallback_study", default=None, metavar="ID",
              help="The Prolific study of sessions that arrived without a STUDY_ID.")
@click.option("--dry-run", is_flag=True, help="Print the new bonuses; change nothing.")
def prolific_bonus_cmd(slug: str, reason: str, amount: str | None, csv_path: str | None,
                       max_amount: str, fallback_study: str | None, dry_run: bool) -> None:
    """Pay bonuses on Prolific through the study's ledger, never twice.

    Adds the new bonuses (--amount or --csv) to the ledger, then sets up and pays every
    bonus of REASON not yet paid; without --amount and --csv it only settles the ledger.
    A payment whose outcome is unknown (no answer from Prolific) is never retried by
    itself: check it on Prolific, then run `stylestudy prolific bonus-resolve`."""
    from stylestudy.db.engine import get_engine, session_scope
    from stylestudy.study_server.platforms import bonuses, prolific

    if amount is not None and csv_path is not None:
        raise UserError("give --amount or --csv, not both")
    study = get_study(slug)
    prolific.require_prolific(study)
    client = None if dry_run else prolific.client_from_env()
    limit = bonuses.parse_amount(max_amount, 10**9)
    with session_scope(write=True) as s:
        if amount is not None:
            amounts = bonuses.approved_amounts(s, study, bonuses.parse_amount(amount, limit))
        else:
            amounts = bonuses.read_amounts(csv_path, limit) if csv_path else {}
        plan = bonuses.plan(s, study, reason, amounts, fallback_study)
        if not dry_run:
            bonuses.record(s, reason, plan)
    verb = "would add" if dry_run else "added"
    click.echo(f"{verb} {len(plan.new)} bonus(es) for {reason!r} (total "
               f"{bonuses.money(plan.cents)}); {plan.already} already in the ledger")
    if dry_run:
        for b in plan.new:
            click.echo(f"  session {b.session_id}: {bonuses.money(b.cents)} "
                       f"(submission {b.submission})")
        return
    done = bonuses.settle(client, get_engine(), study, reason)
    click.echo(f"paid {done.paid} bonus(es) in {done.bulks} bulk payment(s), total "
               f"{bonuses.money(done.paid_cents)}")
    for bulk, n, cents in done.uncertain:
        click.echo(f"UNKNOWN: bulk {bulk} ({n} bonus(es), {bonuses.money(cents)}) was sent "
                   "for payment without a clear answer", err=True)
    if done.uncertain:
        raise UserError(f"check those bonuses on Prolific, then run `stylestudy prolific "
                        f"bonus-resolve {slug} BULK --paid` (or --not-paid); they are never "
                        "paid again until then")


@prolific_group.command("bonus-resolve")
@click.argument("slug")
@click.argument("bulk_id", metavar="BULK")
@click.option("--paid/--not-paid", required=True,
              help="What Prolific shows for the bulk payment.")
def prolific_bonus_resolve_cmd(slug: str, bulk_id: str, paid: bool) -> None:
    """Record whether a bulk bonus payment with an unknown outcome was paid."""
    from stylestudy.study_server.platforms import bonuses

    n = bonuses.resolve(None, get_study(slug), bulk_id, paid)
    click.echo(f"{n} bonus(es) of bulk {bulk_id} marked "
               f"{'paid' if paid else 'not paid (the next bonus run pays them)'}")


@prolific_group.command("bonuses")
@click.argument("slug")
def prolific_bonuses_cmd(slug: str) -> None:
    """The study's bonus ledger: bonuses and totals per reason and state."""
    from stylestudy.db.engine import session_scope
    from stylestudy.study_server.platforms import bonuses

    study = get_study(slug)
    with session_scope() as s:
        rows = bonuses.ledger(s, study)
    if not rows:
        click.echo(f"no bonuses for study {slug}")
    for reason, state, n, cents in rows:
        click.echo(f"{reason}\t{state}\t{n}\t{bonuses.money(cents)}")


commands: list = [mturk_group, prolific_group]
