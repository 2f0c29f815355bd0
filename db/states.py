"""The states a row can be in, as the strings stored in the database."""

from __future__ import annotations

from enum import StrEnum


class GenerationState(StrEnum):
    """A generation's ``status``: waiting, claimed by a worker, finished, or failed."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class SessionState(StrEnum):
    """A study session's ``state``: in progress, finished here, confirmed by the platform,
    given back by the participant, or lapsed (its lease ran out)."""

    STARTED = "started"
    COMPLETED = "completed"
    SUBMITTED = "submitted"
    RETURNED = "returned"
    TIMED_OUT = "timed_out"


#: sessions that ended with every trial answered (confirmed by the platform or not)
SESSIONS_FINISHED = (SessionState.COMPLETED, SessionState.SUBMITTED)
#: sessions that ended before finishing: lease ran out, or given back on the platform
SESSIONS_ABANDONED = (SessionState.TIMED_OUT, SessionState.RETURNED)
