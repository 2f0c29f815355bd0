"""`stylestudy study`: create, list, open, pause, close, cap and release studies; ASAP rounds; admin
logins and blocked IDs."""

from __future__ import annotations

import os
import re

import click

from stylestudy.errors import UserError
from stylestudy.study_server.cli import get_study

__all__ = ["commands"]


@click.group("study")
def study_group() -> None:
    """Create and manage 2AFC studies."""


@study_group.command("create")
@click.argument("spec_path", metavar="SPEC.yaml", type=click.Path(dir_okay=False))
def create_cmd(spec_path: str) -> None:
    """Build a study's design from SPEC.yaml (see docs/study-spec.md)."""
    from stylestudy.study_server.study.spec import load_spec, question_rules
    from stylestudy.study_server.study.studies import create_study, design_summary

    study = create_study(load_spec(spec_path))
    summary = design_summary(study.id)
    cells = ", ".join(f"{k}: {v}" for k, v in summary.items())
    click.echo(f"study {study.slug} created ({study.state}); cells {cells}")
    for q, rule in question_rules(study.spec).items():
        if rule["catch"] == "none":
            click.echo(f"warning: the {q} question has no catch cells (its catch rule is "
                       "none), so it has no attention checks", err=True)
        elif f"{q}/catch" not in summary:
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
        from stylestudy.study_server.study.studies import set_study_state

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
    from stylestudy.study_server.study.studies import set_max_participants

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

    from stylestudy.study_server.study.scheduling import release_study

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

    from stylestudy.study_server.study.active import run_round, watch_step

    kw = {"per_pair": per_pair, "approx": approx, "selective": selective}
    if budget is None:
        _report_round(slug, run_round(slug, seed=seed, dry_run=dry_run, **kw), per_pair)
        return
    if dry_run or seed is not None:
        raise UserError("--watch runs real rounds, each with its own recorded seed: "
                        "drop --dry-run and --seed")
    below = open_below or 2 * get_study(slug).spec["trials_per_session"]
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
    from stylestudy.db.queries import design_rounds

    study = get_study(slug)
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


@study_group.command("admin-user")
@click.argument("username")
@click.option("--password-env", default="STYLESTUDY_ADMIN_PASSWORD", show_default=True,
              help="Read the password from this environment variable if set, else prompt.")
def admin_user_cmd(username: str, password_env: str) -> None:
    """Create or reset an admin login (only a salted hash is stored)."""
    from stylestudy.study_server.web.admin import set_admin_password

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
    from stylestudy.study_server.tokens import pid_hash

    h = pid_hash(config.secret_key(), platform, participant_id)
    with session_scope(write=True) as s:
        if s.get(BlockedIdentity, h) is None:
            s.add(BlockedIdentity(pid_hash=h, reason=reason))
    click.echo("blocked")


commands: list = [study_group]
