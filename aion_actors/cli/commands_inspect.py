"""Read-only commands: `list`, `describe`, `history`, `result`. They read the store, never a worker."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import click

from stores.base import WorkflowFilter

from .. import converter
from .. import events as ev
from ..description import describe as describe_workflow
from ..description import unfinished_tasks
from ..errors import InvalidArgument, WorkflowNotFound
from ..status import WorkflowStatus
from . import render
from .options import NO_ANSWER, WORKFLOW_ENDED_BADLY, Exit, common, dumps, existing_store

_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str) -> datetime:
    """`30m`, `2h`, `7d` ago, or an ISO date/time (UTC unless it carries an offset)."""
    found = _RELATIVE.match(text.strip())
    if found:
        return datetime.now(timezone.utc) - timedelta(**{_UNITS[found[2]]: float(found[1])})
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidArgument(f"--since {text!r} is neither a duration (30m, 2h, 7d) nor an ISO date/time "
                              f"(2024-05-01 or 2024-05-01T12:00)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


@click.command("list")
@common
@click.option("--status", type=click.Choice([s.value for s in WorkflowStatus]), help="Only this status.")
@click.option("--type", "workflow_type", metavar="TYPE", help="Only this workflow type.")
@click.option("--since", metavar="WHEN", help="Only those started since: 30m, 2h, 7d, or an ISO date/time.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
def list_(store: str, as_json: bool, status: str | None, workflow_type: str | None, since: str | None,
          limit: int) -> None:
    """List workflows, newest first.

    \b
    Example:
      aion list --status running --since 2h
    """
    after = parse_since(since) if since else None
    with existing_store(store) as s:
        rows = s.query(WorkflowFilter(workflow_type=workflow_type, status=status, started_after=after, limit=limit))
    if as_json:
        click.echo(dumps([{k: getattr(r, k) for k in r.__dataclass_fields__} for r in rows]))
        return
    if not rows:
        click.echo("no workflows match")
        return
    render.console().print(render.workflows_table(rows))


def read(s: Any, workflow_id: str) -> list[ev.HistoryEvent]:
    history = [ev.from_stored(e) for e in s.read_history(workflow_id)]
    if not history:
        raise WorkflowNotFound(workflow_id)
    return history


@click.command(short_help="A workflow's events as a timeline.")
@common
@click.argument("workflow_id")
@click.option("--raw", is_flag=True, help="Every field of every event, as stored.")
def history(store: str, as_json: bool, workflow_id: str, raw: bool) -> None:
    """Show a workflow's recorded events as a timeline.

    \b
    Example:
      aion history order-1
      aion history order-1 --raw
    """
    with existing_store(store) as s:
        events = read(s, workflow_id)
    if as_json:
        click.echo(dumps([render.event_json(e) for e in events]))
        return
    out = render.console()
    if raw:
        for e in events:
            fields = ", ".join(f"{k}={v!r}" for k, v in render.details(e.event).items())
            out.print(f"{e.seq:>4} {e.recorded_at.isoformat(timespec='microseconds')} run={e.run_id} "
                      f"{e.type_name} {render.escape(fields)}")
        return
    out.print(f"[bold]{render.escape(workflow_id)}[/] — {len(events)} events since "
              f"{events[0].recorded_at.isoformat(timespec='milliseconds')}")
    run_id = events[0].run_id
    for e in events:
        if e.run_id != run_id:
            run_id = e.run_id
            out.print(f"[dim]── run {run_id} ──[/]")
        out.print(render.event_line(e, events[0].recorded_at))


@click.command(short_help="Status, runs, pending work, failure.")
@common
@click.argument("workflow_id")
def describe(store: str, as_json: bool, workflow_id: str) -> None:
    """Show status, runs, pending activities and timers, heartbeats and the failure of a workflow.

    A pending activity on a task queue shows its queue and the worker
    running its attempt, or "waiting" while no worker has claimed it.

    \b
    Example:
      aion describe order-1
    """
    with existing_store(store) as s:
        summary = s.get_summary(workflow_id)
        if summary is None:
            raise WorkflowNotFound(workflow_id)
        described = describe_workflow(summary, read(s, workflow_id), s.timers_of(workflow_id),
                                      unfinished_tasks(s, workflow_id))
        runs = s.read_run_chain(workflow_id)
    if as_json:
        click.echo(dumps(render.description_json(described, runs)))
        return
    render.print_description(render.console(), described, runs)


def outcome(workflow_id: str, last: ev.HistoryEvent, as_json: bool) -> None:
    """Print a closed workflow's result (exit 0) or its failure (exit `WORKFLOW_ENDED_BADLY`)."""
    e = last.event
    if isinstance(e, ev.WorkflowCompleted):
        result = converter.decode_value(e.result, Any)
        if as_json:
            click.echo(dumps({"workflow_id": workflow_id, "status": "completed", "result": result}))
        else:
            click.echo(result if isinstance(result, str) else dumps(result))
        return
    if isinstance(e, ev.WorkflowFailed):
        status, message = "failed", f"workflow {workflow_id!r} failed: {e.failure}"
    elif isinstance(e, ev.WorkflowCancelled):
        how = "terminated" if e.terminated else "cancelled"
        status, message = "cancelled", f"workflow {workflow_id!r} was {how}" + (f": {e.reason}" if e.reason else "")
    else:
        status, message = "timed_out", f"workflow {workflow_id!r} timed out"
    if as_json:
        click.echo(dumps({"workflow_id": workflow_id, "status": status, "error": message,
                          "failure": render.details(e).get("failure")}))
    raise Exit(WORKFLOW_ENDED_BADLY, message)


@click.command(short_help="Print a workflow's result.")
@common
@click.argument("workflow_id")
@click.option("--wait", is_flag=True, help="Wait for the workflow to end (following continue-as-new).")
@click.option("--timeout", type=click.FloatRange(min=0), default=None, metavar="SECONDS",
              help="With --wait: give up after this long (exit 4). Default: wait forever.")
def result(store: str, as_json: bool, workflow_id: str, wait: bool, timeout: float | None) -> None:
    """Print a workflow's result; exit 3 if it failed, was cancelled or timed out.

    \b
    Example:
      aion result order-1 --wait --timeout 60
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    with existing_store(store) as s:
        while True:
            summary = s.get_summary(workflow_id)
            if summary is None:
                raise WorkflowNotFound(workflow_id)
            if summary.closed_at is not None:
                return outcome(workflow_id, ev.from_stored(s.read_history_from(workflow_id, summary.last_seq)[0]),
                               as_json)
            if not wait:
                raise Exit(NO_ANSWER, f"workflow {workflow_id!r} has not finished (status {summary.status}); "
                                      f"wait for it with: aion result {workflow_id} --wait")
            if deadline is not None and time.monotonic() >= deadline:
                raise Exit(NO_ANSWER, f"workflow {workflow_id!r} did not finish within {timeout:g}s "
                                      f"(status {summary.status})")
            time.sleep(0.1)
