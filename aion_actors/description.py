"""What `handle.describe()` and `aion describe` show: a workflow's state folded from its history.

It reads only what the store holds (summary, history, timer rows), so any
process can describe any workflow without an engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Sequence

from stores.base import TimerRow, WorkflowSummary

from . import converter
from . import events as ev
from .errors import AionError
from .status import WorkflowStatus


@dataclass(frozen=True, slots=True)
class PendingActivity:
    activity_id: int
    activity_type: str
    attempt: int
    last_heartbeat: Any = None


@dataclass(frozen=True, slots=True)
class WorkflowDescription:
    workflow_id: str
    workflow_type: str
    status: WorkflowStatus
    started_at: datetime
    closed_at: datetime | None
    run_count: int
    history_length: int
    pending_activities: tuple[PendingActivity, ...]
    pending_timers: tuple[tuple[str, datetime], ...]
    failure: Any = None
    paused_reason: str | None = None


def _details(payload: Any) -> Any:
    try:
        return converter.decode_value(payload, Any)
    except AionError:
        return f"<undecodable {len(payload.data)} bytes>"


def describe(summary: WorkflowSummary, history: Sequence[ev.HistoryEvent],
             timers: Sequence[TimerRow]) -> WorkflowDescription:
    """Fold the last run's pending activities, and the failure and pause reason, from `history`."""
    pending: dict[int, list] = {}
    failure = None
    paused_reason = None
    for item in history:
        e = item.event
        if isinstance(e, ev.WorkflowStarted):
            pending.clear()
        elif isinstance(e, ev.ActivityScheduled):
            pending[e.activity_id] = [e.activity_type, 0, None]
        elif isinstance(e, ev.ActivityStarted) and e.activity_id in pending:
            pending[e.activity_id][1] = e.attempt
        elif isinstance(e, ev.ActivityHeartbeat) and e.activity_id in pending:
            pending[e.activity_id][2] = _details(e.details)
        elif isinstance(e, (ev.ActivityCompleted, ev.ActivityCancelled)) or (
                isinstance(e, ev.ActivityFailed) and e.kind == ev.TERMINAL):
            pending.pop(e.activity_id, None)
        elif isinstance(e, ev.WorkflowFailed):
            failure = e.failure
        elif isinstance(e, ev.WorkflowPaused):
            paused_reason = e.reason
        elif isinstance(e, ev.WorkflowResumed):
            paused_reason = None
    return WorkflowDescription(
        summary.workflow_id, summary.workflow_type, WorkflowStatus(summary.status), summary.started_at,
        summary.closed_at, summary.run_count, len(history),
        tuple(PendingActivity(k, v[0], v[1], v[2]) for k, v in sorted(pending.items())),
        tuple((t.timer_id, t.fire_at) for t in timers), failure, paused_reason)
