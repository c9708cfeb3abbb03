"""`aion queues`: every task queue of a store, its depth, what runs, its limits and who serves it."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import click
from rich.table import Table

from stores.leases import ShardLeases
from stores.tasks import QueueStats, TaskQueues

from ..errors import NoTaskQueues
from . import render
from .options import common, dumps, existing_store


@click.command(short_help="Task queues: waiting, running, limits, oldest waiting, workers.")
@common
def queues(store: str, as_json: bool) -> None:
    """Show every task queue of the store: pending tasks (its depth), running
    ones (claimed by a worker), its limits, how long its oldest task has
    waited, and the workers holding claims on it.

    A queue shows once it is defined, served or holds tasks. A queue that
    holds pending tasks and has no worker in its last column may have
    nobody serving it: start one with `aion worker --task-queue NAME app.py`.
    Limits hold across the whole cluster: concurrency is how many of its
    tasks may run at once, rate the starts allowed per period ("per
    partition" when each partition key has its own limits).

    \b
    Example:
      aion queues --store sqlite:///aion.db
      aion queues --json
    """
    with existing_store(store) as s:
        if not isinstance(s, TaskQueues):
            raise NoTaskQueues(store)
        stats = s.queue_stats()
        # Ages by the store's clock, which stamped the tasks: another machine's clock may be off.
        now = s.now() if isinstance(s, ShardLeases) else datetime.now(timezone.utc)
    rows = [_row(q, now) for q in stats]
    if as_json:
        click.echo(dumps({"queues": rows}))
        return
    out = render.console()
    if not rows:
        out.print(f"no task queues in {render.escape(store)} yet: a queue appears when an activity is put on it "
                  f"or a worker serves it")
        return
    out.print(_table(rows))


def _row(q: QueueStats, now: datetime) -> dict[str, Any]:
    age = None if q.oldest_pending is None else max(0.0, (now - q.oldest_pending).total_seconds())
    return {"name": q.name, "pending": q.pending, "running": q.claimed,
            "concurrency": q.limits.concurrency, "rate_limit": q.limits.rate_limit,
            "rate_period": q.limits.rate_period, "partitioned": q.limits.partitioned,
            "oldest_pending": q.oldest_pending, "oldest_pending_age": None if age is None else round(age, 3),
            "workers": list(q.workers)}


def _table(rows: list[dict[str, Any]]) -> Table:
    table = Table("queue", "pending", "running", "concurrency", "rate limit", "oldest waiting", "workers")
    for r in rows:
        per = " per partition" if r["partitioned"] else ""
        concurrency = "-" if r["concurrency"] is None else f"{r['concurrency']}{per}"
        rate = "-" if r["rate_limit"] is None else f"{r['rate_limit']} per {r['rate_period']:g} s{per}"
        waited = "-" if r["oldest_pending_age"] is None else age(r["oldest_pending_age"])
        table.add_row(render.escape(r["name"]), str(r["pending"]), str(r["running"]), concurrency, rate, waited,
                      render.escape(", ".join(r["workers"])))
    return table


def age(seconds: float) -> str:
    """`4.2 s`, `3 min 5 s`, `2 h 10 min`, `3 d 4 h`: the two largest units, as a person reads a wait."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = int(seconds)
    size, unit, next_size, next_unit = next(step for step in _UNITS if whole >= step[0])
    rest = (whole % size) // next_size
    return f"{whole // size} {unit}" + (f" {rest} {next_unit}" if rest else "")


_UNITS = ((86400, "d", 3600, "h"), (3600, "h", 60, "min"), (60, "min", 1, "s"))
