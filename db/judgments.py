"""The judgments of a study as long-format rows: the one query behind every export and
the analysis (study_server exports it; analysis reads it).

Choices are method identities ("not sure" answers carry none); observers are keyed hashes
of platform IDs.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, aliased

from stylestudy.db.models import (
    Asset,
    DesignCell,
    Method,
    Participant,
    Response,
    Study,
    StudySession,
    Trial,
)
from stylestudy.errors import UserError

__all__ = ["CellParts", "asset_name", "cell_parts", "item_id", "judgment_rows"]


def asset_name(asset: Asset) -> str:
    """An asset's file stem (or ``asset<id>``): how scenes (items) are named."""
    return (asset.source_name or f"asset{asset.id}").rsplit(".", 1)[0]


def item_id(content: Asset, style: Asset) -> str:
    """The scene (item) name of a (content, style) pair: ``<content stem>+<style stem>``."""
    return f"{asset_name(content)}+{asset_name(style)}"


class CellParts(NamedTuple):
    """A design cell's five images and two methods, as aliases for one query."""

    content: Any
    style: Any
    ref: Any
    a: Any
    b: Any
    method_a: Any
    method_b: Any

    def join(self, stmt: Select[Any]) -> Select[Any]:
        """``stmt`` (which selects from DesignCell) joined to every image, and to both
        methods as outer joins (catch distractors have no method)."""
        for img, col in ((self.content, DesignCell.content_asset_id),
                         (self.style, DesignCell.style_asset_id),
                         (self.ref, DesignCell.reference_asset_id),
                         (self.a, DesignCell.a_asset_id), (self.b, DesignCell.b_asset_id)):
            stmt = stmt.join(img, img.id == col)
        return (stmt.outerjoin(self.method_a, self.method_a.id == DesignCell.method_a_id)
                .outerjoin(self.method_b, self.method_b.id == DesignCell.method_b_id))


def cell_parts() -> CellParts:
    """Fresh aliases of a design cell's images and methods."""
    return CellParts(aliased(Asset), aliased(Asset), aliased(Asset), aliased(Asset),
                     aliased(Asset), aliased(Method), aliased(Method))


def judgment_rows(s: Session, slug: str, session_id: int | None = None
                  ) -> list[dict[str, Any]]:
    """Every stored response of study ``slug`` (of one session, given ``session_id``) as a
    long-format row, in session order.

    Keys starting with ``_`` carry what only the JSON export needs (stimulus tokens,
    times); the rest are the columns of the long CSV (docs/analysis.md, "Input").
    """
    study = s.scalar(select(Study).where(Study.slug == slug))
    if study is None:
        raise UserError(f"no study {slug!r}")
    cp = cell_parts()
    which = [StudySession.study_id == study.id]
    if session_id is not None:
        which.append(StudySession.id == session_id)
    rows = s.execute(cp.join(
        select(Response, Trial, DesignCell, StudySession, Participant.pid_hash, cp.content,
               cp.style, cp.method_a.label, cp.method_b.label, cp.ref.token, cp.a.token,
               cp.b.token)
        .join(Trial, Trial.id == Response.trial_id)
        .join(DesignCell, DesignCell.id == Trial.cell_id)
        .join(StudySession, StudySession.id == Response.session_id)
        .join(Participant, Participant.id == StudySession.participant_id))
        .where(*which)
        .order_by(StudySession.id, Trial.position)).all()
    repeat_pub: dict[int, str] = dict(s.execute(select(Trial.id, Trial.public_id).join(
        StudySession, StudySession.id == Trial.session_id).where(
        *which, Trial.kind == "real")).tuples().all())
    out = []
    for resp, trial, cell, sess, pid, c, st, la, lb, rt, at, bt in rows:
        la, lb = la or "", lb or ""
        observer = pid[:16]
        scene = item_id(c, st)
        unsure = resp.chose_a is None  # "not sure": no choice, no chosen method
        chose = "" if unsure else int(resp.chose_a)
        out.append({
            "worker_id": observer, "session_id": sess.id, "trial_id": trial.public_id,
            "item_id": scene, "content_id": c.id, "style_id": st.id, "question": cell.question,
            "method_A": la, "method_B": lb, "left_method": la if trial.left_is_a else lb,
            "chose_A": chose, "chosen_method": "" if unsure else la if resp.chose_a else lb,
            "not_sure": int(unsure),
            "rt_ms": resp.rt_ms, "is_catch": int(cell.kind == "catch"),
            "is_repeat": int(trial.kind == "repeat"), "is_practice": int(trial.kind == "practice"),
            "trial_kind": trial.kind, "expected": cell.expected or "",
            "repeat_of": repeat_pub.get(trial.repeat_of_id, ""), "position": trial.position,
            "timestamp": resp.received_at.isoformat(), "session_state": sess.state,
            "outcome": sess.outcome or "", "cohort": sess.cohort or "",
            "observer": observer, "session": sess.id,
            "scene": scene, "condition_A": la, "condition_B": lb,
            "is_A_selected": chose,
            "_tokens": (rt, at if trial.left_is_a else bt, bt if trial.left_is_a else at),
            "_left_chosen": None if unsure else resp.chose_a == trial.left_is_a,
            "_created": sess.created_at,
            "_received": resp.received_at,
        })
    return out
