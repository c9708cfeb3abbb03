"""`aion watch`: a live view of recorded events, from any process, by polling the store.

Each new event is one line; each running activity whose heartbeats carry
`{"done": n, "total": m}` gets a progress bar. `Follower` is shared with
`aion run`, which shows the run it started the same way.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any, Iterator

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from stores.base import EventStore, WorkflowFilter

from .. import events as ev
from ..errors import WorkflowNotFound
from . import render
from .options import common, dumps, existing_store, stop_on_signals

POLL = 0.2


def _progress_of(details: Any) -> tuple[float, float] | None:
    if isinstance(details, dict):
        done, total = details.get("done"), details.get("total")
        if isinstance(done, (int, float)) and isinstance(total, (int, float)) and total > 0:
            return float(done), float(total)
    return None


class Follower:
    """Prints the new events of some workflows (or all) each time `poll()` is called.

    Args:
        store: any store; only read.
        workflow_ids: the workflows to follow from their first event, or None
            for every workflow, from the events recorded after now.
    """

    def __init__(self, store: EventStore, workflow_ids: list[str] | None, out: Console, as_json: bool) -> None:
        self.store, self.out, self.as_json = store, out, as_json
        self.everything = workflow_ids is None
        self.seen: dict[str, int] = {w: 0 for w in workflow_ids or ()}
        self.since = datetime.now(timezone.utc)
        if self.everything:
            for s in store.list_active():
                self.seen[s.workflow_id] = s.last_seq
        self.starts: dict[str, datetime] = {}
        self.activity_types: dict[tuple[str, int], str] = {}
        self.bars: dict[tuple[str, int], TaskID] = {}
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=out, transient=True)

    @contextmanager
    def live(self) -> Iterator["Follower"]:
        if self.as_json:
            yield self
            return
        with self.progress:
            yield self

    def _targets(self) -> list[str]:
        if self.everything:
            for s in self.store.list_active() + self.store.query(WorkflowFilter(started_after=self.since)):
                self.seen.setdefault(s.workflow_id, 0)
        return list(self.seen)

    def poll(self) -> list[ev.HistoryEvent]:
        new: list[ev.HistoryEvent] = []
        for workflow_id in self._targets():
            events = [ev.from_stored(e) for e in self.store.read_history_from(workflow_id, self.seen[workflow_id] + 1)]
            if events:
                self.seen[workflow_id] = events[-1].seq
                self.starts.setdefault(workflow_id, events[0].recorded_at)
                new.extend(events)
        new.sort(key=lambda e: e.recorded_at)
        for item in new:
            self._show(item)
        return new

    def _show(self, item: ev.HistoryEvent) -> None:
        if self.as_json:
            click.echo(dumps(render.event_json(item)))
            return
        prefix = f"{item.workflow_id}  " if self.everything else ""
        self.progress.console.print(render.event_line(item, self.starts.get(item.workflow_id), prefix))
        key_of = (item.workflow_id, getattr(item.event, "activity_id", -1))
        e = item.event
        if isinstance(e, ev.ActivityScheduled):
            self.activity_types[key_of] = e.activity_type
        elif isinstance(e, ev.ActivityHeartbeat):
            found = _progress_of(render.value(e.details))
            if found is not None:
                done, total = found
                if key_of not in self.bars:
                    label = f"{item.workflow_id} #{e.activity_id} {self.activity_types.get(key_of, 'activity')}"
                    self.bars[key_of] = self.progress.add_task(render.escape(label), total=total)
                self.progress.update(self.bars[key_of], completed=done, total=total)
        elif isinstance(e, (ev.ActivityCompleted, ev.ActivityCancelled)) or (
                isinstance(e, ev.ActivityFailed) and e.kind == ev.TERMINAL):
            bar = self.bars.pop(key_of, None)
            if bar is not None:
                self.progress.remove_task(bar)

    def closed(self, workflow_id: str) -> bool:
        summary = self.store.get_summary(workflow_id)
        if summary is None:
            raise WorkflowNotFound(workflow_id)
        return summary.closed_at is not None and summary.last_seq <= self.seen.get(workflow_id, 0)


@click.command(short_help="Follow a workflow's events live.")
@common
@click.argument("workflow_id", required=False)
@click.option("--all", "everything", is_flag=True, help="Every workflow's new events, until Ctrl-C.")
def watch(store: str, as_json: bool, workflow_id: str | None, everything: bool) -> None:
    """Follow a workflow's events live (from any process); ends when the run ends.

    Activities whose heartbeats carry {"done": n, "total": m} show a progress
    bar. Ctrl-C stops watching (exit 0); the workflow is not affected.

    \b
    Example:
      aion watch order-1
      aion watch --all
    """
    if (workflow_id is None) == (not everything):
        raise click.UsageError("give a WORKFLOW_ID or --all (not both)")
    with existing_store(store) as s:
        if workflow_id is not None and s.get_summary(workflow_id) is None:
            raise WorkflowNotFound(workflow_id)
        follower = Follower(s, None if everything else [workflow_id], render.console(), as_json)
        if everything:  # on stderr, so --json output stays one event per line
            click.echo(f"aion watch: following the new events of every workflow in {store}; Ctrl-C to stop",
                       err=True)
        try:
            with stop_on_signals(), follower.live():
                while True:
                    follower.poll()
                    if workflow_id is not None and follower.closed(workflow_id):
                        follower.poll()
                        return
                    time.sleep(POLL)
        except KeyboardInterrupt:
            return
