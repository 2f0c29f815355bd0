"""Rounds of active sampling: ASAP batches raise the targets of a running study's cells.

The design's ``judgments_per_cell`` is the warm-up (docs/study-protocol.md, Allocation);
each round then reads the judgments the pre-registered QC keeps, asks ASAP
(``stylestudy.analysis.asap``) for the next N − 1 pairs of every (question, item) and raises
those cells' targets, which the least-served-first allocation fills. Rounds are computed
between sessions, never inside a participant's request, and each is recorded in
``design_round``.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Engine, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from stylestudy.analysis.asap import next_pairs
from stylestudy.db.engine import get_engine, session_scope
from stylestudy.db.models import DesignCell, DesignRound, Method, Study
from stylestudy.errors import UserError
from stylestudy.study_server.study.lookup import study_or_fail

__all__ = ["ALGORITHM", "Round", "kept_judgments", "run_round",
           "watch_step"]

#: provenance of the pair choice (stylestudy.analysis.asap follows this code exactly)
ALGORITHM = "ASAP mst (gfxdisp/asap python/asap_cpu.py @ 90082a3)"

Group = tuple[str, str, str]  # (question, content asset id, style asset id)


@dataclass(frozen=True)
class Round:
    """What one round did (``number`` is None on a dry run)."""

    number: int | None
    settings: dict[str, Any]
    judgments: int
    groups: int
    cells: list[int]
    open_places: int  # real trials still to hand out after the round


def kept_judgments(s, study: Study) -> list[tuple[Group, str, str]]:
    """(group, winner, loser) for every real judgment the study's pre-registered QC keeps
    ("not sure" answers carry no preference)."""
    from stylestudy.analysis.data import real_trials, study_frame
    from stylestudy.analysis.qc import quality_control
    from stylestudy.analysis.settings import Settings

    df = study_frame(s, study.slug)
    if df is None:
        return []
    df = quality_control(df, Settings.from_spec(study.spec).qc).apply(df)
    real = real_trials(df)
    cols = ("question", "content_id", "style_id", "method_A", "method_B", "chose_A")
    return [((q, c, st), a, b) if chose_a else ((q, c, st), b, a)
            for q, c, st, a, b, chose_a in zip(*(real[k] for k in cols), strict=True)]


def _real_cells(s, study_id: int) -> dict[Group, dict[frozenset, int]]:
    """Group → {frozenset of the two method labels: cell id}."""
    ma, mb = aliased(Method), aliased(Method)
    rows = s.execute(select(DesignCell.id, DesignCell.question, DesignCell.content_asset_id,
                            DesignCell.style_asset_id, ma.label, mb.label)
                     .join(ma, ma.id == DesignCell.method_a_id)
                     .join(mb, mb.id == DesignCell.method_b_id)
                     .where(DesignCell.study_id == study_id, DesignCell.kind == "real")).all()
    groups: dict[Group, dict[frozenset, int]] = defaultdict(dict)
    for cid, q, c, st, la, lb in rows:
        groups[(q, str(c), str(st))][frozenset((la, lb))] = cid
    return groups


def _choose(groups: dict[Group, dict[frozenset, int]], judged: list[tuple[Group, str, str]],
            rng: np.random.Generator, approx: bool, selective: bool) -> list[int]:
    """The cells of ASAP's next batch in every group, groups in sorted order."""
    wins_of: dict[Group, list[tuple[str, str]]] = defaultdict(list)
    for g, w, l in judged:
        wins_of[g].append((w, l))
    chosen = []
    for g in sorted(groups):
        cells = groups[g]
        labels = sorted({m for pair in cells for m in pair})
        idx = {m: i for i, m in enumerate(labels)}
        allowed = np.zeros((len(labels), len(labels)), bool)
        for pair in cells:
            i, j = (idx[m] for m in pair)
            allowed[i, j] = allowed[j, i] = True
        wins = np.zeros(allowed.shape, int)
        for w, l in wins_of[g]:
            if w in idx and l in idx:
                wins[idx[w], idx[l]] += 1
        chosen += [cells[frozenset((labels[i], labels[j]))]
                   for i, j in next_pairs(wins, rng, allowed, approx, selective)]
    return chosen


def _open_places(s, study_id: int) -> int:
    return int(s.scalar(select(func.coalesce(func.sum(DesignCell.target - DesignCell.assigned), 0))
                        .where(DesignCell.study_id == study_id, DesignCell.kind == "real",
                               DesignCell.assigned < DesignCell.target)))


def run_round(slug: str, per_pair: int = 1, approx: bool = False, selective: bool = False,
              seed: int | None = None, dry_run: bool = False,
              engine: Engine | None = None) -> Round:
    """Choose ASAP's next batch from the judgments stored so far and raise each chosen
    cell's target by ``per_pair``; the choice is read first, then written in one short
    transaction that fails cleanly if another round was recorded in between."""
    if per_pair < 1:
        raise UserError(f"--per-pair must be at least 1, got {per_pair}")
    engine = engine or get_engine()
    with session_scope(engine) as s:
        study = study_or_fail(s, slug)
        if study.state == "closed":
            raise UserError(f"study {slug!r} is closed; a closed study takes no new rounds")
        last = s.scalar(select(func.coalesce(func.max(DesignRound.number), 0))
                        .where(DesignRound.study_id == study.id))
        groups = _real_cells(s, study.id)
        judged = kept_judgments(s, study)
        study_id = study.id
    seed = secrets.randbits(31) if seed is None else seed
    settings = {"algorithm": ALGORITHM, "mode": "approx" if approx else "full",
                "selective_eig": selective, "seed": seed, "per_pair": per_pair}
    cells = _choose(groups, judged, np.random.default_rng(seed), approx, selective)
    if dry_run:
        with session_scope(engine) as s:
            return Round(None, settings, len(judged), len(groups), cells,
                         _open_places(s, study_id))
    try:
        with session_scope(engine, write=True) as s:
            if s.scalar(select(func.coalesce(func.max(DesignRound.number), 0))
                        .where(DesignRound.study_id == study_id)) != last:
                raise UserError(f"another round of study {slug!r} was recorded meanwhile; "
                                "run the command again")
            s.add(DesignRound(study_id=study_id, number=last + 1, settings=settings,
                              judgments=len(judged), cells=cells))
            # rows locked in id order, as allocation locks them, so the two never deadlock
            s.execute(select(DesignCell.id).where(DesignCell.id.in_(cells))
                      .order_by(DesignCell.id).with_for_update())
            s.execute(update(DesignCell).where(DesignCell.id.in_(cells))
                      .values(target=DesignCell.target + per_pair))
            s.flush()
            places = _open_places(s, study_id)
    except IntegrityError:
        raise UserError(f"another round of study {slug!r} was recorded meanwhile; "
                        "run the command again") from None
    return Round(last + 1, settings, len(judged), len(groups), cells, places)


def watch_step(slug: str, budget: int, open_below: int, engine: Engine | None = None,
               **round_kw: Any) -> tuple[str, Round | None]:
    """One look at a running study: a round when fewer than ``open_below`` real trials are
    open and the targets total less than ``budget`` judgments. Returns (why, round):
    ``"round"``, ``"open"`` (enough trials open), ``"budget"`` (targets reached it) or
    ``"closed"``."""
    engine = engine or get_engine()
    with session_scope(engine) as s:
        study = study_or_fail(s, slug)
        if study.state == "closed":
            return "closed", None
        total = s.scalar(select(func.coalesce(func.sum(DesignCell.target), 0))
                         .where(DesignCell.study_id == study.id, DesignCell.kind == "real"))
        places = _open_places(s, study.id)
    if total >= budget:
        return "budget", None
    if places >= open_below:
        return "open", None
    return "round", run_round(slug, engine=engine, **round_kw)
