"""What `handle.describe()` and `aion describe` show: a workflow's state folded from its history.

It reads only what the store holds (summary, history, timer rows, and the
unfinished tasks of activities on task queues), so any process can describe
any workflow without an engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Sequence

from stores.base import TimerRow, WorkflowSummary
from stores.tasks import CLAIMED, Task, TaskQueues

from . import converter
from . import events as ev
from .errors import AionError
from .status import WorkflowStatus


@dataclass(frozen=True, slots=True)
class PendingActivity:
    """An activity scheduled and not yet finished for good.

    `task_queue` is the queue its current attempt waits or runs on, `None`
    for an activity that runs in its owner's process (or when the store has
    no task queues). `worker` is the worker holding that attempt's claim,
    `None` while it waits on the queue.
    """

    activity_id: int
    activity_type: str
    attempt: int
    last_heartbeat: Any = None
    task_queue: str | None = None
    worker: str | None = None


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


def unfinished_tasks(store: Any, workflow_id: str) -> list[Task]:
    """The workflow's tasks on queues; none from a store that keeps no task queues."""
    return store.unfinished_tasks(workflow_id) if isinstance(store, TaskQueues) else []


def describe(summary: WorkflowSummary, history: Sequence[ev.HistoryEvent],
             timers: Sequence[TimerRow], tasks: Sequence[Task] = ()) -> WorkflowDescription:
    """Fold the last run's pending activities, and the failure and pause reason, from `history`;
    `tasks` (`unfinished_tasks`) say where the attempts on task queues wait or run."""
    pending: dict[int, list] = {}
    failure = None
    paused_reason = None
    run_id = None
    for item in history:
        e = item.event
        if isinstance(e, ev.WorkflowStarted):
            pending.clear()
            run_id = item.run_id
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
        tuple(PendingActivity(k, v[0], v[1], v[2], *_placed(k, v[1], run_id, tasks))
              for k, v in sorted(pending.items())),
        tuple((t.timer_id, t.fire_at) for t in timers), failure, paused_reason)


def _placed(activity_id: int, attempt: int, run_id: str | None, tasks: Sequence[Task]) -> tuple[str | None, str | None]:
    """(queue, worker) of the activity's newest unfinished task of this run, if it is not older than `attempt`.

    The newest attempt is the one that counts: putting it supersedes older
    ones, whose claims only linger until their workers notice. One older than
    the attempt the history records is a leftover, not where the activity runs.
    """
    mine = [t for t in tasks if t.run_id == run_id and t.activity_id == str(activity_id) and t.attempt >= attempt]
    if not mine:
        return None, None
    task = max(mine, key=lambda t: (t.attempt, t.id))
    return task.queue, task.claimed_by if task.state == CLAIMED else None
