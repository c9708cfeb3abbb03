"""Commands that change or ask a live workflow: `start`, `signal`, `query`, `cancel`, `pause`, `resume`.

They run in a process of their own, so they never append to a history: each
puts a request in the store's inbox and waits for the engine serving the
workflows (`aion worker`, `aion run`, or a program with
`Engine(serve_requests=True)`) to perform it and answer (`aion_actors.inbox`).
Mistakes the store alone can refuse (an unknown id, an ended run) are
refused before any request is put, so they need no worker.
"""

from __future__ import annotations

from typing import Any, Callable

import click

from .. import inbox
from ..errors import NotRunning, WorkflowAlreadyExists, WorkflowNotFound
from ..ids import check_workflow_id, new_workflow_id
from .options import common, dumps, existing_store, parse_json, parse_loose


def timeout_option(fn: Callable) -> Callable:
    return click.option("--timeout", type=click.FloatRange(min=0.1), default=10.0, show_default=True,
                        metavar="SECONDS", help="How long to wait for a worker to answer.")(fn)


def _live(s: Any, workflow_id: str) -> None:
    summary = s.get_summary(workflow_id)
    if summary is None:
        raise WorkflowNotFound(workflow_id)
    if summary.closed_at is not None:
        raise NotRunning(workflow_id, summary.status)


def _send(store: str, kind: str, workflow_id: str, body: dict, timeout: float, *, live: bool = True) -> Any:
    with existing_store(store) as s:
        if live:
            _live(s, workflow_id)
        return inbox.call(s, kind, workflow_id, body, timeout=timeout)


def _done(as_json: bool, text: str, **fields: Any) -> None:
    click.echo(dumps({"ok": True, **fields}) if as_json else text)


@click.command(short_help="Start a workflow on the worker; print its id.")
@common
@timeout_option
@click.argument("workflow_type", metavar="TYPE")
@click.option("--input", "input_", metavar="JSON", help="The workflow's input, as JSON.")
@click.option("--id", "workflow_id", metavar="ID", help="The workflow id (default: a new random one).")
def start(store: str, as_json: bool, timeout: float, workflow_type: str, input_: str | None,
          workflow_id: str | None) -> None:
    """Start a workflow of TYPE on the worker serving the store; print its id.

    \b
    Example:
      aion start order --input '{"id": 1, "amount": 42}' --id order-1
    """
    value = parse_json(input_, "--input")
    workflow_id = new_workflow_id() if workflow_id is None else check_workflow_id(workflow_id)
    with existing_store(store) as s:
        if s.get_summary(workflow_id) is not None:
            raise WorkflowAlreadyExists(workflow_id)
        reply = inbox.call(s, "start", workflow_id, {"type": workflow_type, "input": value}, timeout=timeout)
    started = reply["workflow_id"]
    click.echo(dumps({"workflow_id": started}) if as_json else started)


@click.command(short_help="Send a signal to a running workflow.")
@common
@timeout_option
@click.argument("workflow_id")
@click.argument("name")
@click.option("--payload", metavar="JSON", help="The signal's payload, as JSON.")
def signal(store: str, as_json: bool, timeout: float, workflow_id: str, name: str, payload: str | None) -> None:
    """Send signal NAME to a running workflow (recorded, then delivered).

    \b
    Example:
      aion signal order-1 approve --payload '{"by": "alice"}'
    """
    value = parse_json(payload, "--payload")
    _send(store, "signal", workflow_id, {"name": name, "payload": value}, timeout)
    _done(as_json, f"signal {name!r} recorded for {workflow_id}", workflow_id=workflow_id, signal=name)


@click.command(short_help="Ask a running workflow a query.")
@common
@timeout_option
@click.argument("workflow_id")
@click.argument("name")
@click.argument("args", nargs=-1)
def query(store: str, as_json: bool, timeout: float, workflow_id: str, name: str, args: tuple[str, ...]) -> None:
    """Ask a running workflow's query handler NAME; records nothing.

    Each ARG is read as JSON, or taken as a string when it is not JSON.

    \b
    Example:
      aion query order-1 status
      aion query order-1 line_item 3
    """
    value = _send(store, "query", workflow_id,
                  {"name": name, "args": [parse_loose(a) for a in args], "timeout": timeout}, timeout)
    if as_json:
        click.echo(dumps({"workflow_id": workflow_id, "query": name, "result": value}))
    else:
        click.echo(value if isinstance(value, str) else dumps(value))


@click.command(short_help="Request a workflow's cancellation.")
@common
@timeout_option
@click.argument("workflow_id")
@click.option("--reason", default="", help="Why (recorded with the request).")
def cancel(store: str, as_json: bool, timeout: float, workflow_id: str, reason: str) -> None:
    """Request cancellation: the workflow gets CancelledError at its current await.

    \b
    Example:
      aion cancel order-1 --reason "customer called"
    """
    _send(store, "cancel", workflow_id, {"reason": reason}, timeout)
    _done(as_json, f"cancellation of {workflow_id} requested (see: aion result {workflow_id} --wait)",
          workflow_id=workflow_id)


@click.command(short_help="End a workflow now, with no cleanup.")
@common
@timeout_option
@click.argument("workflow_id")
@click.option("--reason", default="", help="Why (recorded in WorkflowCancelled).")
def terminate(store: str, as_json: bool, timeout: float, workflow_id: str, reason: str) -> None:
    """End a workflow at once: its code runs no except/finally blocks (use cancel for that).

    Its running activities are told to stop and its children end per their
    parent close policy; it is recorded as cancelled with terminated=true.

    \b
    Example:
      aion terminate order-1 --reason "stuck on a bad deploy"
    """
    _send(store, "terminate", workflow_id, {"reason": reason}, timeout)
    _done(as_json, f"{workflow_id} terminated", workflow_id=workflow_id)


@click.command(short_help="Pause a workflow's activities.")
@common
@timeout_option
@click.argument("workflow_id")
@click.option("--reason", default="", help="Why (recorded in WorkflowPaused).")
def pause(store: str, as_json: bool, timeout: float, workflow_id: str, reason: str) -> None:
    """Pause a workflow: it records signals and timers but starts no activity until resumed.

    \b
    Example:
      aion pause order-1 --reason "supplier outage"
    """
    _send(store, "pause", workflow_id, {"reason": reason}, timeout)
    _done(as_json, f"{workflow_id} paused (resume with: aion resume {workflow_id})", workflow_id=workflow_id)


@click.command(short_help="Resume a paused workflow.")
@common
@timeout_option
@click.argument("workflow_id")
def resume(store: str, as_json: bool, timeout: float, workflow_id: str) -> None:
    """Resume a paused workflow (also the way out of a crash loop).

    \b
    Example:
      aion resume order-1
    """
    _send(store, "resume", workflow_id, {}, timeout)
    _done(as_json, f"{workflow_id} resumed", workflow_id=workflow_id)
