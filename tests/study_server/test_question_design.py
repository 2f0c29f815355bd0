"""The design follows each question's rules: the reference its cells record, and the catch
rule (or none) its catch cells follow."""

from __future__ import annotations

from sqlalchemy import select
from study_helpers import spec

from stylestudy.db.engine import session_scope
from stylestudy.db.models import DesignCell
from stylestudy.study_server.study.studies import create_study, design_summary


def _cells(engine, study_id, question):
    with session_scope(engine) as s:
        return s.execute(select(DesignCell.kind, DesignCell.reference_asset_id,
                                DesignCell.content_asset_id, DesignCell.style_asset_id)
                         .where(DesignCell.study_id == study_id,
                                DesignCell.question == question)).all()


def test_reference_and_catch_rule_per_question(engine, cset):
    study = create_study(spec(questions=[
        "style",
        {"key": "realism", "prompt": "Which looks real?", "reference": "none"},
        {"key": "plausible", "prompt": "Which is plausible?", "reference": "none",
         "catch": "content"},
        {"key": "exemplar", "prompt": "Which agrees with the exemplar?", "reference": "style",
         "catch": "content"}]), engine)
    summary = design_summary(study.id, engine)
    items = len(cset["contents"]) * len(cset["styles"])
    pairs = 3  # three methods
    for q in ("style", "realism", "plausible", "exemplar"):
        assert summary[f"{q}/real"] == items * pairs
    assert "realism/catch" not in summary  # catch: none
    assert summary["plausible/catch"] == summary["exemplar/catch"] == items
    # not shown: the catch rule's reference (content) is the record
    assert all(r == c for _, r, c, _ in _cells(engine, study.id, "plausible"))
    # shown: the exemplar (style image), on its content-rule catch cells too
    assert all(r == st for _, r, _, st in _cells(engine, study.id, "exemplar"))
    assert all(r == c for _, r, c, _ in _cells(engine, study.id, "realism"))
