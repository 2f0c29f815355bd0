"""Quality control from the study's own rules: catch accuracy, repeat consistency, RT floor.

Rules and defaults: docs/analysis.md, "Quality control". Exclusion is analysis-side and
pre-registered: only the rules listed in ``QCRules.exclude`` remove workers; the others flag
them. The exclusion report gives n (workers, trials) before and after.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from stylestudy.analysis.settings import QCRules

__all__ = ["QCResult", "quality_control", "repeat_pairs"]

#: session outcomes whose judgments are not used (rule ``unusable``, docs/analysis.md)
UNUSABLE = ("screened_out", "technical_error")


@dataclass
class QCResult:
    """Per-worker QC table, the excluded worker ids and the before/after summary."""

    workers: pd.DataFrame
    excluded: set[str]
    summary: pd.DataFrame
    rules: QCRules

    def apply(self, df: pd.DataFrame) -> pd.DataFrame:
        """``df`` without the excluded workers."""
        return df[~df["worker_id"].isin(self.excluded)]


def _unsure(df: pd.DataFrame) -> pd.Series:
    """The "not sure" rows (none in tables without the column)."""
    if "not_sure" in df:
        return df["not_sure"].astype(bool)
    return pd.Series(False, index=df.index)


def repeat_pairs(df: pd.DataFrame) -> pd.DataFrame:
    """Each repeat trial beside its original: same worker, question, item and method pair;
    a pair with a "not sure" answer on either side carries no preference to repeat and is
    left out."""
    key = ["worker_id", "question", "item_id", "pair"]
    d = df[~df["is_catch"] & ~_unsure(df)].copy()
    d["pair"] = [" | ".join(sorted((a, b))) for a, b in zip(d["method_A"], d["method_B"],
                                                           strict=True)]
    orig = d[d["trial_kind"] == "real"].drop_duplicates(key)
    rep = d[d["trial_kind"] == "repeat"]
    m = rep.merge(orig[key + ["chosen_method"]], on=key, suffixes=("", "_orig"))
    m["consistent"] = m["chosen_method"] == m["chosen_method_orig"]
    return m


def quality_control(df: pd.DataFrame, rules: QCRules) -> QCResult:
    """Apply ``rules`` to a long table (all questions together: a worker is one person)."""
    workers = pd.DataFrame(index=pd.Index(sorted(df["worker_id"].unique()), name="worker_id"))
    real = df[df["trial_kind"] == "real"]
    workers["trials"] = real.groupby("worker_id").size().reindex(workers.index).fillna(0)
    catch = df[df["is_catch"]].copy()
    exp = catch["expected"].astype("string").str.lower().fillna("").to_numpy(str)
    unscored = int((~np.isin(exp, ["a", "b"])).sum())
    catch = catch[np.isin(exp, ["a", "b"])]  # catch rows without an expected answer: unscored
    catch["correct"] = (catch["chose_A"].to_numpy(bool)  # "not sure" is a wrong answer
                        == (exp[np.isin(exp, ["a", "b"])] == "a")) & ~_unsure(catch).to_numpy()
    g = catch.groupby("worker_id")["correct"] if len(catch) else None
    workers["catch_n"] = g.size().reindex(workers.index).fillna(0) if g is not None else 0
    workers["catch_failed"] = ((g.size() - g.sum()).reindex(workers.index).fillna(0)
                               if g is not None else 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        workers["catch_accuracy"] = 1 - workers["catch_failed"] / workers["catch_n"]
    reps = repeat_pairs(df)
    rg = reps.groupby("worker_id")["consistent"]
    workers["repeat_n"] = rg.size().reindex(workers.index).fillna(0)
    workers["repeat_consistency"] = rg.mean().reindex(workers.index)
    workers["median_rt_ms"] = df[~df["is_catch"]].groupby("worker_id")["rt_ms"].median() \
        .reindex(workers.index)
    state = df.groupby("worker_id")["session_state"].agg(
        lambda s: bool(s.isna().all() or s.isin(["completed", "submitted"]).all()))
    fail = pd.DataFrame(index=workers.index)
    fail["catch"] = rules.fails_catch(workers["catch_n"], workers["catch_failed"])
    fail["repeat"] = rules.fails_repeat(workers["repeat_n"], workers["repeat_consistency"])
    fail["rt"] = rules.too_fast(workers["median_rt_ms"])
    fail["incomplete"] = ~state.reindex(workers.index).fillna(True).astype(bool)
    unusable = df["outcome"].isin(UNUSABLE).groupby(df["worker_id"]).any()
    fail["unusable"] = unusable.reindex(workers.index).fillna(False).astype(bool)
    if rules.completed_only and "incomplete" not in rules.exclude:
        rules = QCRules(**{**rules.__dict__, "exclude": (*rules.exclude, "incomplete")})
    for rule in fail:
        workers[f"fail_{rule}"] = fail[rule].astype(bool)
    workers["excluded"] = fail[list(rules.exclude)].any(axis=1) if rules.exclude else False
    workers["flagged"] = fail.any(axis=1) & ~workers["excluded"]
    excluded = set(workers.index[workers["excluded"]])
    n_trials = len(real)
    summary = []
    for rule in fail:
        who = fail.index[fail[rule]]
        summary.append({
            "rule": rule, "action": "exclude" if rule in rules.exclude else "flag",
            "workers": len(who), "trials": int(real["worker_id"].isin(who).sum()),
        })
    summary.append({"rule": "total excluded", "action": "exclude", "workers": len(excluded),
                    "trials": int(real["worker_id"].isin(excluded).sum())})
    summary = pd.DataFrame(summary)
    summary.attrs.update(
        workers_before=len(workers), workers_after=len(workers) - len(excluded),
        trials_before=n_trials, trials_after=n_trials - int(real["worker_id"].isin(excluded)
                                                            .sum()),
        catch_unscored=unscored)
    return QCResult(workers.reset_index(), excluded, summary, rules)
