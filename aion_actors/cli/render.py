"""How the CLI shows events, workflows and descriptions: one readable line per event, rich tables."""

from __future__ import annotations

import dataclasses

import json
from datetime import datetime, timezone
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from stores.base import RunSummary, WorkflowSummary

from .. import converter
from .. import events as ev
from ..description import WorkflowDescription
from ..errors import AionError, Failure
from ..payload import Payload
from .options import plain

_WIDTH = 100
_STYLE = {"WorkflowCompleted": "bold green", "WorkflowFailed": "bold red", "WorkflowCancelled": "yellow",
          "WorkflowTimedOut": "red", "ActivityFailed": "red", "WorkflowStarted": "bold"}


def value(payload: Payload | None) -> Any:
    if payload is None:
        return None
    try:
        return converter.decode_value(payload, Any)
    except AionError:
        return f"<{len(payload.data)} bytes {payload.content_type}>"


def short(data: Any, width: int = 60) -> str:
    text = json.dumps(data, default=plain) if not isinstance(data, str) else json.dumps(data)
    return text if len(text) <= width else text[:width - 1] + "…"


def details(event: ev.Event) -> dict[str, Any]:
    """Every field of an event, payloads decoded (for `--json` and `history --raw`)."""
    out = {}
    for f in dataclasses.fields(event):  # not __dataclass_fields__: it lists the ClassVar type_name too
        field = getattr(event, f.name)
        out[f.name] = value(field) if isinstance(field, Payload) else field
    return out


def summarize(event: ev.Event) -> str:
    """What happened, in a few words: `#2 charge attempt 1`, `approve {"by": "alice"}`, ..."""
    match event:
        case ev.WorkflowStarted(workflow_type=t, input=i):
            return f"{t}({short(value(i))})"
        case ev.WorkflowCompleted(result=r):
            return f"→ {short(value(r))}"
        case ev.ActivityScheduled(activity_id=a, activity_type=t, input=i):
            return f"#{a} {t}({short(value(i), 40)})"
        case ev.ActivityStarted(activity_id=a, attempt=n):
            return f"#{a} attempt {n}"
        case ev.ActivityCompleted(activity_id=a, attempt=n, result=r):
            return f"#{a} attempt {n} → {short(value(r))}"
        case ev.ActivityFailed(activity_id=a, attempt=n, failure=f, kind=k):
            return f"#{a} attempt {n} ({k}): {short(str(f), 70)}"
        case ev.ActivityHeartbeat(activity_id=a, details=d):
            return f"#{a} {short(value(d))}"
        case ev.TimerStarted(timer_id=t, fire_at=at):
            return f"{t} due {at.isoformat(timespec='milliseconds')}"
        case ev.SignalReceived(name=n, payload=p):
            return f"{n} {short(value(p))}"
        case ev.ChildWorkflowStarted(child_workflow_id=c, workflow_type=t, input=i):
            return f"{c} {t}({short(value(i), 40)})"
        case ev.ChildWorkflowCompleted(child_workflow_id=c, result=r):
            return f"{c} → {short(value(r))}"
        case ev.MarkerRecorded(name=n):
            return n
    parts = []
    for name, field in details(event).items():
        if field in (None, "", {}, ()):
            continue
        shown = str(field) if isinstance(field, Failure) else short(field, 50) if not isinstance(field, str) else field
        parts.append(shown if name in ("reason", "timer_id", "failure") else f"{name}={shown}")
    return " ".join(parts)


def event_line(item: ev.HistoryEvent, start: datetime | None, prefix: str = "") -> str:
    """A rich-markup line: elapsed time since `start`, seq, event type, summary."""
    elapsed = f"+{(item.recorded_at - start).total_seconds():8.3f}s" if start else \
        item.recorded_at.isoformat(timespec="milliseconds")
    style = _STYLE.get(item.type_name, "cyan" if item.type_name.startswith("Activity") else "")
    name = f"[{style}]{item.type_name}[/]" if style else item.type_name
    return f"{escape(prefix)}[dim]{elapsed} {item.seq:>4}[/] {name:<{24 + len(name) - len(item.type_name)}} " \
           f"{escape(summarize(item.event))}"


def event_json(item: ev.HistoryEvent) -> dict[str, Any]:
    return {"seq": item.seq, "recorded_at": item.recorded_at.isoformat(), "run_id": item.run_id,
            "workflow_id": item.workflow_id, "type": item.type_name, **details(item.event)}


def console() -> Console:
    return Console(highlight=False, soft_wrap=True)


def _moment(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S")


def workflows_table(rows: list[WorkflowSummary]) -> Table:
    table = Table("id", "type", "status", "started (UTC)", "closed (UTC)", "runs", "events")
    for r in rows:
        table.add_row(r.workflow_id, r.workflow_type, r.status, _moment(r.started_at),
                      _moment(r.closed_at) if r.closed_at else "", str(r.run_count), str(r.last_seq))
    return table


def _left(moment: datetime) -> str:
    seconds = (moment - datetime.now(timezone.utc)).total_seconds()
    return "due now" if seconds <= 0 else f"in {seconds:.1f}s"


def description_json(d: WorkflowDescription, runs: list[RunSummary]) -> dict[str, Any]:
    return {
        "workflow_id": d.workflow_id, "workflow_type": d.workflow_type, "status": d.status.value,
        "started_at": d.started_at.isoformat(), "closed_at": d.closed_at.isoformat() if d.closed_at else None,
        "run_count": d.run_count, "history_length": d.history_length,
        "runs": [{"run_id": r.run_id, "first_seq": r.first_seq, "last_seq": r.last_seq,
                  "started_at": r.started_at.isoformat()} for r in runs],
        "pending_activities": [{"activity_id": a.activity_id, "activity_type": a.activity_type,
                                "attempt": a.attempt, "last_heartbeat": a.last_heartbeat,
                                "task_queue": a.task_queue, "worker": a.worker}
                               for a in d.pending_activities],
        "pending_timers": [{"timer_id": t, "fire_at": at.isoformat(),
                            "seconds_left": max(0.0, (at - datetime.now(timezone.utc)).total_seconds())}
                           for t, at in d.pending_timers],
        "paused_reason": d.paused_reason,
        "failure": None if d.failure is None else {"type": d.failure.type, "message": d.failure.message,
                                                   "traceback": d.failure.traceback},
    }


def print_description(out: Console, d: WorkflowDescription, runs: list[RunSummary]) -> None:
    status_style = {"completed": "green", "failed": "red", "cancelled": "yellow", "paused": "yellow"}
    rows = [("workflow", d.workflow_id), ("type", d.workflow_type),
            ("status", f"[{status_style.get(d.status.value, 'cyan')}]{d.status.value}[/]"),
            ("started", d.started_at.isoformat(timespec="milliseconds")),
            ("closed", d.closed_at.isoformat(timespec="milliseconds") if d.closed_at else "-"),
            ("events", str(d.history_length))]
    if d.paused_reason is not None:
        rows.append(("paused", escape(d.paused_reason or "(no reason given)")))
    for key, shown in rows:
        out.print(f"[bold]{key:>10}[/]  {shown}")
    out.print(f"[bold]{'runs':>10}[/]  {len(runs)}")
    for n, r in enumerate(runs, start=1):
        out.print(f"{'':>12}{n}. {r.run_id}  seq {r.first_seq}-{r.last_seq}  "
                  f"started {r.started_at.isoformat(timespec='seconds')}")
    out.print(f"[bold]{'activities':>10}[/]  {len(d.pending_activities) or 'none'} pending")
    for a in d.pending_activities:
        beat = f"  last heartbeat {escape(short(a.last_heartbeat))}" if a.last_heartbeat is not None else ""
        attempt = f"attempt {a.attempt}" if a.attempt else "not started"
        where = "" if a.task_queue is None else \
            f"  on queue {escape(a.task_queue)}, " + (f"worker {escape(a.worker)}" if a.worker else "waiting")
        out.print(f"{'':>12}#{a.activity_id} {escape(a.activity_type)}  {attempt}{where}{beat}")
    out.print(f"[bold]{'timers':>10}[/]  {len(d.pending_timers) or 'none'} pending")
    for timer_id, at in d.pending_timers:
        out.print(f"{'':>12}{escape(timer_id)}  due {at.isoformat(timespec='seconds')} ({_left(at)})")
    if d.failure is not None:
        out.print(f"[bold red]{'failure':>10}[/]  {escape(str(d.failure))}")
        if d.failure.traceback:
            out.print(escape(d.failure.traceback.rstrip()), style="dim")
