"""The long-format judgment table (docs/analysis.md, "Input"): from the database or a CSV.

One row per response. Practice trials never enter the table. The chosen category is the
method identity (``chosen_method``), never left/right; ``left_method`` records the side.
A "not sure" answer (relaxed forced choice) has ``not_sure`` set, no ``chosen_method`` and
``chose_A`` False; it carries no preference, so :func:`real_trials` leaves it out.
"""

from __future__ import annotations

import os
import re
from typing import Any

import numpy as np
import pandas as pd

from stylestudy.errors import UserError

__all__ = [
    "COLUMNS",
    "EXPORT_EXTRAS",
    "PWCMP_COLUMNS",
    "PWCMP_NAMES",
    "QUESTIONS",
    "QUESTION_KEY",
    "REQUIRED",
    "from_pwcmp",
    "is_pwcmp",
    "load_csv",
    "load_study",
    "study_conditions",
    "study_provenance",
    "pwcmp_table",
    "only_cohort",
    "real_trials",
    "require_single_question",
    "study_frame",
    "validate",
]

#: long-format columns, in export order
COLUMNS = (
    "worker_id", "session_id", "trial_id", "item_id", "content_id", "style_id", "question",
    "method_A", "method_B", "left_method", "chose_A", "chosen_method", "not_sure", "rt_ms",
    "is_catch", "is_repeat", "trial_kind", "expected", "repeat_of", "timestamp",
    "session_state", "outcome", "cohort",
)
#: further columns of the long export (``stylestudy.study_server.study.exports``): read,
#: checked against the columns above, then dropped
EXPORT_EXTRAS = ("is_practice", "position", "observer", "session", "scene", "condition_A",
                 "condition_B", "is_A_selected")
#: columns a CSV must carry; the rest are filled with defaults
REQUIRED = ("worker_id", "trial_id", "item_id", "question", "method_A", "method_B", "chose_A")
#: pwcmp's ``pw_scale_table`` column names (mantiuk/pwcmp README), plus question and RT
PWCMP_COLUMNS = ("observer", "session", "scene", "condition_A", "condition_B", "is_A_selected",
                 "question", "rt_ms")
#: the preset questions; a study may declare others (docs/study-spec.md, "Questions")
QUESTIONS = ("content", "style")
#: what a question key looks like (it is stored in a 16-character column)
QUESTION_KEY = re.compile(r"^[a-z][a-z0-9_]{0,15}$")
TRIAL_KINDS = ("real", "catch", "repeat")

_BOOL_TRUE = {"1", "true", "t", "yes", "y", "1.0"}
_BOOL_FALSE = {"0", "false", "f", "no", "n", "0.0"}


def _as_bool(series: pd.Series, name: str) -> pd.Series:
    if series.dtype == bool:
        return series
    text = series.astype(str).str.strip().str.lower()
    bad = ~text.isin(_BOOL_TRUE | _BOOL_FALSE)
    if bad.any():
        raise UserError(f"column {name!r} must be 0/1 or true/false; row {int(bad.idxmax()) + 2} "
                        f"has {series[bad].iloc[0]!r}")
    return text.isin(_BOOL_TRUE)


def validate(df: pd.DataFrame, methods: set[str] | None = None) -> pd.DataFrame:
    """Check and normalise a long table; return it with every column of :data:`COLUMNS`.

    Rejects missing or unknown columns, duplicate ``trial_id``s, unknown questions, real
    rows without two distinct methods, a ``chosen_method`` that contradicts ``chose_A``,
    and (with ``methods``) methods outside the declared set.
    """
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise UserError(f"judgment table lacks column(s) {', '.join(missing)}; "
                        f"required: {', '.join(REQUIRED)}")
    unknown = [c for c in df.columns if c not in COLUMNS and c not in EXPORT_EXTRAS]
    if unknown:
        raise UserError(f"judgment table has unknown column(s) {', '.join(map(str, unknown))}; "
                        f"allowed: {', '.join(COLUMNS + EXPORT_EXTRAS)}")
    if df.empty:
        raise UserError("judgment table has no rows")
    df = df.copy()
    if "is_practice" in df:
        df = df[~_as_bool(df["is_practice"], "is_practice")].copy()
    for col in ("worker_id", "trial_id", "item_id", "question", "method_A", "method_B"):
        df[col] = df[col].astype("string").str.strip()
    dup = df["trial_id"].duplicated(keep=False)
    if dup.any():
        ids = sorted(df.loc[dup, "trial_id"].unique())[:5]
        raise UserError(f"duplicate trial_id(s) in judgment table: {', '.join(ids)}")
    bad_q = ~df["question"].map(lambda q: bool(QUESTION_KEY.match(str(q))))
    if bad_q.any():
        raise UserError(f"question {df.loc[bad_q, 'question'].iloc[0]!r} is not a question "
                        "key (a lowercase letter, then up to 15 lowercase letters, digits "
                        "or '_')")
    unsure = (_as_bool(df["not_sure"], "not_sure") if "not_sure" in df
              else pd.Series(False, index=df.index))
    decided = ~unsure
    chose = pd.Series(False, index=df.index)
    chose[decided] = _as_bool(df.loc[decided, "chose_A"], "chose_A")
    df["chose_A"], df["not_sure"] = chose, unsure
    if "is_A_selected" in df and (_as_bool(df.loc[decided, "is_A_selected"], "is_A_selected")
                                  != chose[decided]).any():
        raise UserError("columns is_A_selected and chose_A disagree")
    for col in ("is_catch", "is_repeat"):
        df[col] = _as_bool(df[col], col) if col in df else False
    if "trial_kind" not in df:
        df["trial_kind"] = np.where(df["is_catch"], "catch",
                                    np.where(df["is_repeat"], "repeat", "real"))
    df["trial_kind"] = df["trial_kind"].astype("string")
    if (df["trial_kind"] == "practice").any():
        df = df[df["trial_kind"] != "practice"].copy()
    bad_k = ~df["trial_kind"].isin(TRIAL_KINDS)
    if bad_k.any():
        raise UserError(f"unknown trial_kind {df.loc[bad_k, 'trial_kind'].iloc[0]!r}")
    df["is_catch"] = df["trial_kind"] == "catch"
    df["is_repeat"] = df["trial_kind"] == "repeat"
    real = ~df["is_catch"]
    no_method = real & (df["method_A"].isna() | df["method_B"].isna()
                        | (df["method_A"] == "") | (df["method_B"] == ""))
    if no_method.any():
        raise UserError(f"trial {df.loc[no_method, 'trial_id'].iloc[0]} is not a catch trial "
                        "but lacks method_A or method_B")
    same = real & (df["method_A"] == df["method_B"])
    if same.any():
        raise UserError(f"trial {df.loc[same, 'trial_id'].iloc[0]} compares a method with "
                        "itself")
    if methods is not None:
        used = set(df.loc[real, "method_A"]) | set(df.loc[real, "method_B"])
        extra = sorted(used - set(methods))
        if extra:
            raise UserError(f"unknown method(s) {', '.join(extra)}; the study declares "
                            f"{', '.join(sorted(methods))}")
    derived = df["method_A"].where(df["chose_A"], df["method_B"]).where(real & decided)
    if "chosen_method" in df:
        given = df["chosen_method"].astype("string").replace("", pd.NA)
        clash = real & given.notna() & (given != derived)
        if clash.any():
            raise UserError(f"trial {df.loc[clash, 'trial_id'].iloc[0]}: chosen_method "
                            "contradicts chose_A")
    df["chosen_method"] = derived.astype("string")
    df["session_id"] = (df["session_id"].astype("string") if "session_id" in df
                        else df["worker_id"])
    for col in ("content_id", "style_id", "left_method", "expected", "repeat_of", "timestamp",
                "session_state", "outcome", "cohort"):
        df[col] = (df[col].astype("string").replace("", pd.NA) if col in df
                   else pd.Series(pd.NA, index=df.index, dtype="string"))
    df["rt_ms"] = pd.to_numeric(df["rt_ms"], errors="coerce") if "rt_ms" in df else np.nan
    left_ok = df["left_method"].isna() | df["left_method"].eq(df["method_A"]) \
        | df["left_method"].eq(df["method_B"]) | df["is_catch"]
    if not left_ok.all():
        raise UserError(f"trial {df.loc[~left_ok, 'trial_id'].iloc[0]}: left_method is "
                        "neither method_A nor method_B")
    return df.loc[:, list(COLUMNS)].reset_index(drop=True)


#: pwcmp's column names, lower-cased, and the long-table column each becomes: those of
#: ``pw_scale_table`` (condition_A/B, a 0/1 selection) and of the README's table and the
#: study server's export (Condition_1/2, Selection 1 or 2)
PWCMP_NAMES = {"observer": "worker_id", "session": "session_id", "scene": "item_id",
               "condition_a": "method_A", "condition_b": "method_B",
               "condition_1": "method_A", "condition_2": "method_B",
               "is_a_selected": "chose_A", "selected_a": "chose_A", "selection": "selection",
               "question": "question", "rt_ms": "rt_ms"}


def is_pwcmp(df: pd.DataFrame) -> bool:
    """Whether ``df`` is in one of pwcmp's layouts (an observer column, no worker_id)."""
    cols = {str(c).strip().lower() for c in df.columns}
    return "observer" in cols and "worker_id" not in cols


def from_pwcmp(df: pd.DataFrame, question: str | None = None) -> pd.DataFrame:
    """A pwcmp table as a long table (not yet validated).

    Required: observer, the two conditions and the selection (``is_A_selected``/``selected_A``
    0/1, or ``Selection`` 1 = the first condition, 2 = the second); optional: session,
    scene (the item; one item when absent), question (else ``question``, default content),
    rt_ms. Trial ids are the CSV's line numbers.
    """
    names = {c: str(c).strip().lower() for c in df.columns}
    unknown = [c for c, low in names.items() if low not in PWCMP_NAMES]
    if unknown:
        raise UserError(f"pwcmp table has unknown column(s) {', '.join(map(str, unknown))}; "
                        "allowed: observer, session, scene, condition_A, condition_B "
                        "(or Condition_1, Condition_2), is_A_selected (or selected_A, or "
                        "Selection 1/2), question, rt_ms")
    t = df.rename(columns={c: PWCMP_NAMES[low] for c, low in names.items()})
    if t.columns.duplicated().any():
        raise UserError("pwcmp table names a column twice (e.g. condition_A and Condition_1)")
    missing = [n for n, have in (("condition_A/Condition_1", "method_A" in t),
                                 ("condition_B/Condition_2", "method_B" in t),
                                 ("is_A_selected/Selection",
                                  "chose_A" in t or "selection" in t)) if not have]
    if missing:
        raise UserError(f"pwcmp table lacks {', '.join(missing)}")
    if "selection" in t:
        if "chose_A" in t:
            raise UserError("pwcmp table has both Selection and is_A_selected")
        sel = t.pop("selection").astype(str).str.strip()
        bad = ~sel.isin(["1", "2", "1.0", "2.0"])
        if bad.any():
            raise UserError(f"column Selection must be 1 (first condition) or 2 (second); row "
                            f"{int(bad.to_numpy().argmax()) + 2} has {sel[bad].iloc[0]!r}")
        t["chose_A"] = sel.str.startswith("1")
    if "question" in t:
        if question is not None:
            raise UserError("--question is for a pwcmp table without a question column")
    else:
        t["question"] = question or "content"
    if "item_id" not in t:
        t["item_id"] = "all"
    t["trial_id"] = [f"line{i + 2}" for i in range(len(t))]
    return t


def load_csv(path: str | os.PathLike, methods: set[str] | None = None,
             question: str | None = None) -> pd.DataFrame:
    """Read and validate a long-format CSV, or a pwcmp table (see :func:`from_pwcmp`)."""
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=True)
    except FileNotFoundError:
        raise UserError(f"judgment file not found: {path}") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read judgment CSV {path}: {exc}") from None
    if is_pwcmp(df):
        df = from_pwcmp(df, question)
    elif question is not None:
        raise UserError("--question is for a pwcmp table without a question column")
    return validate(df, methods)


def require_single_question(df: pd.DataFrame) -> str:
    """The one question of ``df``; a table that mixes content and style is refused."""
    qs = sorted(df["question"].dropna().unique())
    if len(qs) != 1:
        raise UserError(f"one analysis covers one question; this table mixes {', '.join(qs)}. "
                        "Split it by question first")
    return str(qs[0])


def only_cohort(df: pd.DataFrame, cohort: str) -> pd.DataFrame:
    """The rows of one recruitment cohort (the study spec's ``cohorts``)."""
    known = sorted(df["cohort"].dropna().unique())
    if cohort not in known:
        raise UserError(f"no judgments from cohort {cohort!r} (cohorts here: "
                        f"{', '.join(known) or 'none'})")
    return df[df["cohort"] == cohort].reset_index(drop=True)


def real_trials(df: pd.DataFrame) -> pd.DataFrame:
    """Rows that carry a preference: real trials (not catch, not repeats) with a choice
    (not "not sure")."""
    keep = df["trial_kind"] == "real"
    if "not_sure" in df:
        keep &= ~df["not_sure"].astype(bool)
    return df[keep]


def pwcmp_table(df: pd.DataFrame) -> pd.DataFrame:
    """pwcmp's long format (``pw_scale_table`` names) for the real trials, plus question, RT."""
    real = real_trials(df)
    return pd.DataFrame({
        "observer": real["worker_id"], "session": real["session_id"],
        "scene": real["item_id"], "condition_A": real["method_A"],
        "condition_B": real["method_B"], "is_A_selected": real["chose_A"].astype(int),
        "question": real["question"], "rt_ms": real["rt_ms"],
    }).reset_index(drop=True)


def study_frame(s: Any, slug: str) -> pd.DataFrame | None:
    """The long table of study ``slug`` read in the open db session ``s`` (practice trials
    left out); None before any response."""
    from stylestudy.db.judgments import judgment_rows

    rows = [r for r in judgment_rows(s, slug) if r["trial_kind"] != "practice"]
    if not rows:
        return None
    recs = [{
        "worker_id": r["worker_id"], "session_id": str(r["session_id"]),
        "trial_id": r["trial_id"], "item_id": r["item_id"],
        "content_id": str(r["content_id"]), "style_id": str(r["style_id"]),
        "question": r["question"], "method_A": r["method_A"] or None,
        "method_B": r["method_B"] or None, "left_method": r["left_method"] or None,
        "chose_A": bool(r["chose_A"]), "not_sure": bool(r["not_sure"]),
        "rt_ms": r["rt_ms"], "trial_kind": r["trial_kind"],
        "expected": r["expected"] or None, "repeat_of": r["repeat_of"] or None,
        "timestamp": r["timestamp"], "session_state": r["session_state"],
        "outcome": r["outcome"] or None, "cohort": r["cohort"] or None,
    } for r in rows]
    return validate(pd.DataFrame.from_records(recs))


def load_study(slug: str, engine: Any = None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The long table of study ``slug`` and the study's spec (its QC configuration)."""
    from sqlalchemy import select

    from stylestudy.db.engine import session_scope
    from stylestudy.db.models import Study

    with session_scope(engine) as s:
        study = s.scalar(select(Study).where(Study.slug == slug))
        if study is None:
            raise UserError(f"no study named {slug!r}")
        spec = dict(study.spec or {})
        df = study_frame(s, slug)
    if df is None:
        raise UserError(f"study {slug!r} has no responses yet")
    return df, spec


def study_conditions(slug: str, engine: Any = None) -> pd.DataFrame:
    """The conditions (method labels) compared in study ``slug`` with their method name and
    generation parameters: columns condition, method, params."""
    from sqlalchemy import or_, select

    from stylestudy.db.engine import session_scope
    from stylestudy.db.models import DesignCell, Method, Study

    with session_scope(engine) as s:
        used = (select(Method.id)
                .join(DesignCell, or_(DesignCell.method_a_id == Method.id,
                                      DesignCell.method_b_id == Method.id))
                .join(Study, Study.id == DesignCell.study_id).where(Study.slug == slug))
        rows = s.execute(select(Method.label, Method.name, Method.params)
                         .where(Method.id.in_(used))).all()
    return pd.DataFrame([{"condition": lab, "method": name, "params": dict(params or {})}
                         for lab, name, params in sorted(rows, key=lambda r: r[0])],
                        columns=["condition", "method", "params"])


def study_provenance(slug: str, engine: Any = None) -> dict[str, Any]:
    """What shaped study ``slug``'s data: its design version and the rounds of active
    sampling that raised cell targets (``design_round``)."""
    from sqlalchemy import select

    from stylestudy.db.engine import session_scope
    from stylestudy.db.models import Study
    from stylestudy.db.queries import design_rounds

    with session_scope(engine) as s:
        study = s.scalar(select(Study).where(Study.slug == slug))
        if study is None:
            raise UserError(f"no study named {slug!r}")
        rounds = design_rounds(s, study.id)
        return {"slug": slug, "design_version": study.design_version,
                "judgments_per_cell": (study.spec or {}).get("judgments_per_cell"),
                "design_rounds": [{"number": r.number, "created_at": r.created_at.isoformat(),
                                   "judgments_used": r.judgments, "cells_raised": len(r.cells),
                                   **r.settings} for r in rounds]}
