"""The status of a workflow, projected from its history alone."""

from __future__ import annotations

import enum
from typing import Iterable

from . import events as ev


class WorkflowStatus(str, enum.Enum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"
    CONTINUED_AS_NEW = "continued_as_new"
    PAUSED = "paused"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL

    def __str__(self) -> str:
        return self.value


_TERMINAL = frozenset({WorkflowStatus.COMPLETED, WorkflowStatus.FAILED,
                       WorkflowStatus.CANCELLED, WorkflowStatus.TIMED_OUT})

_TRANSITIONS: dict[type[ev.Event], WorkflowStatus] = {
    ev.WorkflowStarted: WorkflowStatus.RUNNING,
    ev.WorkflowCompleted: WorkflowStatus.COMPLETED,
    ev.WorkflowFailed: WorkflowStatus.FAILED,
    ev.WorkflowCancelled: WorkflowStatus.CANCELLED,
    ev.WorkflowTimedOut: WorkflowStatus.TIMED_OUT,
    ev.WorkflowContinuedAsNew: WorkflowStatus.CONTINUED_AS_NEW,
    ev.WorkflowPaused: WorkflowStatus.PAUSED,
    ev.WorkflowResumed: WorkflowStatus.RUNNING,
    ev.WorkflowReopened: WorkflowStatus.RUNNING,
}


def apply(status: WorkflowStatus | None, event: ev.Event) -> WorkflowStatus | None:
    """The status after one more event (None before the first WorkflowStarted)."""
    return _TRANSITIONS.get(type(event), status)


def project(history: Iterable[ev.HistoryEvent | ev.Event]) -> WorkflowStatus | None:
    """Fold a history into its status; None for an empty history."""
    status = None
    for item in history:
        status = apply(status, item.event if isinstance(item, ev.HistoryEvent) else item)
    return status
