"""The states a row can be in, as the strings stored in the database."""

from __future__ import annotations

from enum import StrEnum


class GenerationState(StrEnum):
    """A generation's ``status``: waiting, claimed by a worker, finished, or failed."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
