"""Per-session quality-control figures for the admin dashboard (crowd-protocol.md §3.1).

Flags only; exclusion is analysis-side and pre-registered. Defaults: fail on ≥ 2 missed
catch trials or catch accuracy < 80 %; flag repeat consistency < 70 % and median RT
below 400 ms.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

__all__ = ["SessionQC", "session_qc"]

CATCH_MAX_FAILS = 2
CATCH_MIN_ACCURACY = 0.8
REPEAT_MIN_CONSISTENCY = 0.7
RT_FLOOR_MS = 400.0


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


def session_qc(rows: list[dict]) -> dict[int, SessionQC]:
    """QC per session from long-format rows (``study_server.exports.judgments``).

    A repeat is consistent when it chose the same *method* as its original (sides are
    swapped, so a left-clicker is inconsistent).
    """
    out: dict[int, SessionQC] = {}
    chosen_by_trial = {r["trial_id"]: r["chosen_method"] for r in rows}
    rts: dict[int, list[float]] = {}
    for r in rows:
        q = out.setdefault(r["session_id"], SessionQC(r["session_id"]))
        if r["is_catch"] and not r["is_practice"]:
            q.catch_n += 1
            q.catch_correct += int(r["chose_A"])
        if r["is_repeat"] and r["repeat_of"] in chosen_by_trial:
            q.repeat_n += 1
            q.repeat_consistent += int(chosen_by_trial[r["repeat_of"]] == r["chosen_method"])
        if not r["is_practice"] and r["rt_ms"] is not None:
            rts.setdefault(r["session_id"], []).append(float(r["rt_ms"]))
    for sid, q in out.items():
        if sid in rts:
            q.median_rt_ms = statistics.median(rts[sid])
        fails = q.catch_n - q.catch_correct
        if fails >= CATCH_MAX_FAILS or (q.catch_n and q.catch_accuracy < CATCH_MIN_ACCURACY):
            q.flags.append("catch")
        if q.repeat_n and q.repeat_consistent / q.repeat_n < REPEAT_MIN_CONSISTENCY:
            q.flags.append("repeat")
        if q.median_rt_ms is not None and q.median_rt_ms < RT_FLOOR_MS:
            q.flags.append("fast")
    return out
