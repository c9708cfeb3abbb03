"""The `aion` command line: a thin layer over the public API.

Every command takes `--store URL` (default `sqlite:///aion.db`, or the
`AION_STORE` variable) and `--json`. Errors are one line on stderr and exit
code 1; usage mistakes exit 2 (click's convention).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from stores.base import WorkflowFilter
from stores.url import open_store

from . import converter
from . import events as ev
from .errors import AionError, InvalidArgument, WorkflowNotFound
from .runtime.context import store_errors
from .status import WorkflowStatus

store_option = click.option("--store", envvar="AION_STORE", default="sqlite:///aion.db", show_default=True,
                            help="Store URL (or set AION_STORE).")
json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")


def _open(url: str):
    with store_errors():
        return open_store(url)


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _event_details(event: ev.Event) -> dict:
    details = {}
    for name in event.__dataclass_fields__:
        value = getattr(event, name)
        if hasattr(value, "content_type"):
            try:
                value = converter.decode_value(value, Any)
            except AionError:
                value = f"<{len(value.data)} bytes {value.content_type}>"
        details[name] = value
    return details


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Aion: durable workflows. Inspect workflows recorded in a store."""


@main.command("list")
@store_option
@json_option
@click.option("--status", type=click.Choice([s.value for s in WorkflowStatus]), help="Only this status.")
@click.option("--type", "workflow_type", help="Only this workflow type.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
def list_(store: str, as_json: bool, status: str | None, workflow_type: str | None, limit: int) -> None:
    """List workflows, newest first."""
    with _open(store) as s, store_errors():
        rows = s.query(WorkflowFilter(workflow_type=workflow_type, status=status, limit=limit))
    if as_json:
        click.echo(json.dumps([{k: _plain(getattr(r, k)) for k in r.__dataclass_fields__} for r in rows]))
        return
    table = Table("id", "type", "status", "started", "closed", "runs")
    for r in rows:
        table.add_row(r.workflow_id, r.workflow_type, r.status, r.started_at.isoformat(timespec="seconds"),
                      r.closed_at.isoformat(timespec="seconds") if r.closed_at else "", str(r.run_count))
    Console().print(table)


@main.command()
@store_option
@json_option
@click.argument("workflow_id")
def history(store: str, as_json: bool, workflow_id: str) -> None:
    """Show the recorded events of a workflow, in order."""
    with _open(store) as s, store_errors():
        events = [ev.from_stored(e) for e in s.read_history(workflow_id)]
    if not events:
        raise WorkflowNotFound(workflow_id)
    if as_json:
        click.echo(json.dumps([{"seq": e.seq, "recorded_at": e.recorded_at.isoformat(), "run_id": e.run_id,
                                "type": e.type_name, **_event_details(e.event)} for e in events], default=_plain))
        return
    table = Table("seq", "recorded at", "event", "details")
    for e in events:
        details = ", ".join(f"{k}={v!r}" for k, v in _event_details(e.event).items())
        table.add_row(str(e.seq), e.recorded_at.isoformat(timespec="milliseconds"), e.type_name, details)
    Console().print(table)


@main.command()
@store_option
@json_option
@click.argument("workflow_id")
def describe(store: str, as_json: bool, workflow_id: str) -> None:
    """Show a workflow's status, type, run count and pending timers."""
    with _open(store) as s, store_errors():
        summary = s.get_summary(workflow_id)
        if summary is None:
            raise WorkflowNotFound(workflow_id)
        timers = s.timers_of(workflow_id)
    info = {k: _plain(getattr(summary, k)) for k in summary.__dataclass_fields__}
    info["pending_timers"] = [{"timer_id": t.timer_id, "fire_at": t.fire_at.isoformat()} for t in timers]
    if as_json:
        click.echo(json.dumps(info))
        return
    for key, value in info.items():
        click.echo(f"{key:>16}: {value}")


def run() -> None:
    """Entry point: user mistakes become one line on stderr, never a traceback."""
    try:
        main(standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (AionError, InvalidArgument) as exc:
        click.echo(f"aion: {exc}", err=True)
        sys.exit(1)
