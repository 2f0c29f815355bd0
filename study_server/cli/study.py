"""`stylestudy study`, `serve`, `simulate` and `mturk` commands."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import click

from stylestudy.errors import UserError

__all__ = ["commands"]


@click.group("study")
def study_group() -> None:
    """Create and manage 2AFC studies."""


@study_group.command("create")
@click.argument("spec_path", metavar="SPEC.yaml", type=click.Path(dir_okay=False))
def create_cmd(spec_path: str) -> None:
    """Build a study's design from SPEC.yaml (see docs/study-spec.md)."""
    from stylestudy.study_server.spec import load_spec
    from stylestudy.study_server.studies import create_study, design_summary

    study = create_study(load_spec(spec_path))
    summary = design_summary(study.id)
    cells = ", ".join(f"{k}: {v}" for k, v in summary.items())
    click.echo(f"study {study.slug} created ({study.state}); cells {cells}")
    for q in study.spec["questions"]:
        if f"{q}/catch" not in summary:
            click.echo(f"warning: the {q} question has no catch cells: no method's outputs "
                       "give an answerable pair (docs/study-protocol.md, Catch trials), so it "
                       "has no attention checks", err=True)
    if not any(k.endswith("/catch") for k in summary):
        click.echo("warning: no catch cells at all: no catch or practice trials", err=True)


@study_group.command("list")
def list_cmd() -> None:
    """List studies with their state and progress."""
    from sqlalchemy import func, select

    from stylestudy.db.engine import session_scope
    from stylestudy.db.models import DesignCell, Study

    with session_scope() as s:
        rows = s.execute(select(Study.slug, Study.state, Study.platform,
                                func.sum(DesignCell.served), func.sum(DesignCell.target))
                         .join(DesignCell, DesignCell.study_id == Study.id)
                         .where(DesignCell.kind == "real")
                         .group_by(Study.id).order_by(Study.slug)).all()
    for slug, state, platform, served, target in rows:
        click.echo(f"{slug}\t{state}\t{platform}\t{served}/{target} judgments")


def _state_cmd(name: str, state: str, help_text: str) -> click.Command:
    @click.argument("slug")
    def cmd(slug: str) -> None:
        from stylestudy.study_server.studies import set_study_state

        set_study_state(slug, state)
        click.echo(f"study {slug} is {state}")

    cmd.__doc__ = help_text
    return study_group.command(name)(cmd)


@study_group.command("cap")
@click.argument("slug")
@click.argument("places")
@click.option("--cohort", default=None, help="Cap this cohort (spec: cohorts) instead.")
def cap_cmd(slug: str, places: str, cohort: str | None) -> None:
    """Set a study's participant cap to PLACES (a number, or 'none' to lift it)."""
    from stylestudy.study_server.studies import set_max_participants

    if places.lower() == "none":
        cap = None
    elif re.fullmatch(r"[0-9]{1,9}", places):  # ASCII digits: '²' is a digit to isdigit()
        cap = int(places)
    else:
        raise UserError(f"PLACES must be a number or 'none', got {places!r}")
    set_max_participants(slug, cap, cohort=cohort)
    who = f"cohort {cohort}" if cohort else f"study {slug}"
    click.echo(f"{who}: " + (f"at most {cap} participants" if cap else "no cap"))


@study_group.command("release")
@click.argument("slug")
@click.option("--idle", default=10, show_default=True, type=click.IntRange(0),
              metavar="MINUTES", help="Release started sessions with no stored response for "
                                      "this long (unanswered ones: since they started).")
def release_cmd(slug: str, idle: int) -> None:
    """Free the cells of stuck sessions: time out SLUG's started sessions idle for --idle
    minutes; their stored responses stay and count."""
    import datetime as dt

    from stylestudy.study_server.scheduling import release_study

    r = release_study(slug, dt.timedelta(minutes=idle))
    click.echo(f"released {r.sessions} session(s) idle for {idle} minutes or more: "
               f"{r.trials} trials back in the pool; {r.responses} stored responses stay")


@study_group.command("asap")
@click.argument("slug")
@click.option("--per-pair", default=1, show_default=True,
              help="Judgments added to each pair ASAP chooses.")
@click.option("--approx", is_flag=True, help="ASAP-approx: online updates for the gains.")
@click.option("--selective", is_flag=True,
              help="Evaluate gains only for pairs close on the scale (selective EIG).")
@click.option("--seed", type=int, default=None, help="Seed (default: random, recorded).")
@click.option("--dry-run", is_flag=True, help="Show the round; change nothing.")
@click.option("--watch", "budget", type=click.IntRange(1), default=None, metavar="BUDGET",
              help="Keep watching: run a round whenever fewer than --open-below trials are "
                   "open, until the targets total BUDGET judgments or the study closes.")
@click.option("--open-below", type=click.IntRange(1), default=None,
              help="With --watch: the open real trials that trigger a round "
                   "(default: 2 sessions' worth).")
@click.option("--interval", default=30.0, show_default=True, type=click.FloatRange(0),
              help="With --watch: seconds between looks.")
def asap_cmd(slug: str, per_pair: int, approx: bool, selective: bool, seed: int | None,
             dry_run: bool, budget: int | None, open_below: int | None,
             interval: float) -> None:
    """Run one round of ASAP active sampling (or keep running rounds with --watch): raise
    the targets of the N-1 most informative pairs of every (question, item), judged from
    the QC-kept judgments."""
    import time

    from stylestudy.study_server.active import run_round, watch_step

    kw = {"per_pair": per_pair, "approx": approx, "selective": selective}
    if budget is None:
        _report_round(slug, run_round(slug, seed=seed, dry_run=dry_run, **kw), per_pair)
        return
    if dry_run or seed is not None:
        raise UserError("--watch runs real rounds, each with its own recorded seed: "
                        "drop --dry-run and --seed")
    below = open_below or 2 * _get_study(slug).spec["trials_per_session"]
    click.echo(f"study {slug}: watching every {interval:g} s; a round when fewer than "
               f"{below} trials are open, until the targets total {budget} judgments")
    while True:
        why, rnd = watch_step(slug, budget, below, **kw)
        if rnd is not None:
            _report_round(slug, rnd, per_pair)
        elif why in ("budget", "closed"):
            click.echo(f"study {slug}: " + ("the targets reached the budget"
                                            if why == "budget" else "closed") + "; done")
            return
        time.sleep(interval)


def _report_round(slug: str, r, per_pair: int) -> None:
    head = "dry run" if r.number is None else f"round {r.number}"
    click.echo(f"study {slug}: {head} from {r.judgments} kept judgments (seed "
               f"{r.settings['seed']}): {len(r.cells)} pairs over {r.groups} question-item "
               f"groups, +{per_pair} each; {r.open_places} trials open")


@study_group.command("rounds")
@click.argument("slug")
def rounds_cmd(slug: str) -> None:
    """List a study's rounds of active sampling."""
    from stylestudy.db.engine import session_scope
    from stylestudy.study_server.active import design_rounds

    study = _get_study(slug)
    with session_scope() as s:
        rounds = design_rounds(s, study.id)
        for r in rounds:
            st = r.settings
            click.echo(f"round {r.number}\t{r.created_at:%Y-%m-%d %H:%M}\t{r.judgments} "
                       f"judgments\t{len(r.cells)} pairs +{st['per_pair']}\t{st['mode']}"
                       f"{' selective' if st['selective_eig'] else ''}\tseed {st['seed']}")
    if not rounds:
        click.echo(f"study {slug}: no rounds of active sampling")


_state_cmd("open", "open", "Open a study to participants (from draft or paused).")
_state_cmd("pause", "paused", "Pause a study: no new sessions; sessions in flight finish.")
_state_cmd("close", "closed", "Close a study for good.")


@study_group.command("export")
@click.argument("slug")
@click.option("--format", "fmt", type=click.Choice(["pwcmp", "long", "json", "events"]),
              default="long", show_default=True)
@click.option("--question", type=click.Choice(["content", "style"]),
              help="pwcmp: one file per question type.")
@click.option("-o", "--out", type=click.Path(dir_okay=False), help="Output file (default stdout).")
def export_cmd(slug: str, fmt: str, question: str | None, out: str | None) -> None:
    """Export judgments (pwcmp CSV, the long CSV, jsPsych-like JSON) or session events."""
    from stylestudy.db.engine import session_scope
    from stylestudy.study_server import exports

    with session_scope() as s:
        text = exports.render(s, slug, fmt, question)
    if out:
        Path(out).write_text(text)
    else:
        click.echo(text, nl=False)


@study_group.command("admin-user")
@click.argument("username")
@click.option("--password-env", default="STYLESTUDY_ADMIN_PASSWORD", show_default=True,
              help="Read the password from this environment variable if set, else prompt.")
def admin_user_cmd(username: str, password_env: str) -> None:
    """Create or reset an admin login (only a salted hash is stored)."""
    from stylestudy.study_server.admin import set_admin_password

    password = os.environ.get(password_env) or click.prompt(
        "password", hide_input=True, confirmation_prompt=True)
    set_admin_password(username, password)
    click.echo(f"admin user {username} saved")


@study_group.command("block")
@click.argument("platform", type=click.Choice(["prolific", "mturk", "link"]))
@click.argument("participant_id")
@click.option("--reason", default=None)
def block_cmd(platform: str, participant_id: str, reason: str | None) -> None:
    """Bar a platform ID from every study (stored as a keyed hash)."""
    from stylestudy import config
    from stylestudy.db.engine import session_scope
    from stylestudy.db.models import BlockedIdentity
    from stylestudy.study_server.security import pid_hash

    h = pid_hash(config.secret_key(), platform, participant_id)
    with session_scope(write=True) as s:
        if s.get(BlockedIdentity, h) is None:
            s.add(BlockedIdentity(pid_hash=h, reason=reason))
    click.echo("blocked")


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
    from stylestudy.study_server import payments

    study = _get_study(slug)
    with session_scope() as s:
        rows = payments.payment_rows(s, study, config.secret_key())
    text = (payments.prolific_ids(study, rows, ids_only) if ids_only
            else payments.render(study, rows))
    if out:
        _write_private(out, text)
    else:
        click.echo(text, nl=False)


def _write_private(path: str, text: str) -> None:
    """Write ``text`` to a new file (mode 0600): the IDs in it are restricted data."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror}") from None
    with os.fdopen(fd, "w") as f:
        f.write(text)


@click.command("serve")
@click.option("--dev", is_flag=True, help="Flask development server (one process).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64),
              help="gunicorn worker processes (ignored with --dev).")
@click.option("--threads", default=4, show_default=True, type=click.IntRange(1, 64),
              help="Threads per gunicorn worker.")
def serve_cmd(dev: bool, host: str, port: int, workers: int, threads: int) -> None:
    """Serve studies: gunicorn (production) or the Flask dev server (--dev)."""
    from stylestudy.study_server.serve import prepare_database, run_dev, run_gunicorn

    prepare_database()  # migrate once in the master; workers connect after the fork
    if dev:
        run_dev(host, port)
    else:
        run_gunicorn(host, port, workers, threads)


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
    from stylestudy.study_server.simulate import simulate

    res = simulate(study, participants, strengths=_strengths(strengths), noise=noise, seed=seed,
                   url=url, concurrency=concurrency, lapse=lapse,
                   not_sure_below=not_sure_below)
    click.echo(json.dumps({"participants": res.participants, "completed": res.completed,
                           "responses": res.responses, "outcomes": dict(res.outcomes),
                           "refused": dict(res.refused)}))


@click.group("mturk")
def mturk_group() -> None:
    """MTurk ExternalQuestion HITs (legacy; MTurk closes 2026-09-30)."""


def _get_study(slug: str):
    from sqlalchemy import select

    from stylestudy.db.engine import session_scope
    from stylestudy.db.models import Study

    with session_scope() as s:
        study = s.scalar(select(Study).where(Study.slug == slug))
    if study is None:
        raise UserError(f"no study {slug!r}")
    return study


@mturk_group.command("create-hits")
@click.argument("slug")
@click.option("--live", is_flag=True, help="Use the production requester endpoint "
              "(default: the study's mturk.sandbox setting).")
def create_hits_cmd(slug: str, live: bool) -> None:
    """Create the study's HITs (idempotent: UniqueRequestToken per HIT)."""
    from stylestudy.study_server import mturk

    study = _get_study(slug)
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
    from stylestudy.study_server import mturk

    study = _get_study(slug)
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
    from stylestudy.study_server import mturk

    study = _get_study(slug)
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
    from stylestudy.study_server import mturk

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
    from stylestudy.study_server import prolific

    study = _get_study(slug)
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
    from stylestudy.study_server import prolific

    rejection = None
    if reject_message is not None or reject_category is not None:
        if reject_message is None or reject_category is None:
            raise UserError("give both --reject-message and --reject-category")
        rejection = prolific.Rejection(reject_message, reject_category)
    study = _get_study(slug)
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
    from stylestudy.study_server import bonuses, prolific

    if amount is not None and csv_path is not None:
        raise UserError("give --amount or --csv, not both")
    study = _get_study(slug)
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
    from stylestudy.study_server import bonuses

    n = bonuses.resolve(None, _get_study(slug), bulk_id, paid)
    click.echo(f"{n} bonus(es) of bulk {bulk_id} marked "
               f"{'paid' if paid else 'not paid (the next bonus run pays them)'}")


@prolific_group.command("bonuses")
@click.argument("slug")
def prolific_bonuses_cmd(slug: str) -> None:
    """The study's bonus ledger: bonuses and totals per reason and state."""
    from stylestudy.db.engine import session_scope
    from stylestudy.study_server import bonuses

    study = _get_study(slug)
    with session_scope() as s:
        rows = bonuses.ledger(s, study)
    if not rows:
        click.echo(f"no bonuses for study {slug}")
    for reason, state, n, cents in rows:
        click.echo(f"{reason}\t{state}\t{n}\t{bonuses.money(cents)}")


commands: list = [study_group, serve_cmd, simulate_cmd, mturk_group, prolific_group]
