"""Per-session quality-control figures for the admin dashboard (docs/study-protocol.md, Admin).

Flags only; exclusion is analysis-side and pre-registered. The rules are the study's own
``qc`` rules, applied by the methods of ``stylestudy.analysis.settings.QCRules`` that
``stylestudy analyze`` applies too; the figures are counted as ``stylestudy.analysis.qc``
counts them: catch trials scored against their expected answer, practice left out, the
median RT over non-catch trials.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from stylestudy.analysis.settings import QCRules

__all__ = ["SessionQC", "session_qc"]


@dataclass
class SessionQC:
    session_id: int
    catch_n: int = 0
    catch_correct: int = 0
    repeat_n: int = 0
    repeat_consistent: int = 0
    median_rt_ms: float | None = None
    flags: list[str] = field(default_factory=list)

    @property
    def catch_accuracy(self) -> float | None:
        return self.catch_correct / self.catch_n if self.catch_n else None

    @property
    def catch_failures(self) -> int:
        return self.catch_n - self.catch_correct


def session_qc(rows: list[dict], rules: QCRules | None = None) -> dict[int, SessionQC]:
    """QC per session from long-format rows (``stylestudy.study_server.study.exports.judgments``),
    flagged by ``rules`` (default: the study's ``qc`` rules, docs/study-spec.md).

    A repeat is consistent when it chose the same *method* as its original (sides are
    swapped, so a left-clicker is inconsistent); a pair with a "not sure" answer on either
    side is not scored. A "not sure" catch answer is wrong.
    """
    rules = rules or QCRules()
    out: dict[int, SessionQC] = {}
    chosen_by_trial = {r["trial_id"]: r["chosen_method"] for r in rows if not r["not_sure"]}
    rts: dict[int, list[float]] = {}
    for r in rows:
        q = out.setdefault(r["session_id"], SessionQC(r["session_id"]))
        if r["is_practice"]:
            continue
        if r["is_catch"] and r["expected"] in ("a", "b"):
            q.catch_n += 1
            q.catch_correct += int(not r["not_sure"]
                                   and bool(r["chose_A"]) == (r["expected"] == "a"))
        if r["is_repeat"] and r["repeat_of"] in chosen_by_trial and not r["not_sure"]:
            q.repeat_n += 1
            q.repeat_consistent += int(chosen_by_trial[r["repeat_of"]] == r["chosen_method"])
        if not r["is_catch"] and r["rt_ms"] is not None:
            rts.setdefault(r["session_id"], []).append(float(r["rt_ms"]))
    for sid, q in out.items():
        if sid in rts:
            q.median_rt_ms = statistics.median(rts[sid])
        if rules.fails_catch(q.catch_n, q.catch_failures):
            q.flags.append("catch")
        if q.repeat_n and rules.fails_repeat(q.repeat_n, q.repeat_consistent / q.repeat_n):
            q.flags.append("repeat")
        if q.median_rt_ms is not None and rules.too_fast(q.median_rt_ms):
            q.flags.append("fast")
    return out
