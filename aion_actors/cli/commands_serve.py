"""Commands that serve workflows: `run` (start one and follow it) and `worker` (serve until stopped).

Both open an `Engine` on the user's workflows with `serve_requests=True`, so
`aion signal/query/cancel/...` from other processes reach the runs they serve.
"""

from __future__ import annotations

import time
from typing import Any

import click

from .. import events as ev
from ..engine import Engine
from ..task_queue import TaskQueue
from ..errors import InvalidArgument
from ..ids import check_workflow_id
from . import render
from .commands_inspect import outcome
from .commands_watch import POLL, Follower
from .load import load
from .options import INTERRUPTED, OK, Exit, common, dumps, parse_json, stop_on_signals


@click.command(short_help="Run a workflow from a file, live.")
@common
@click.argument("source", metavar="FILE_OR_MODULE")
@click.option("--workflow", "workflow_name", metavar="NAME", help="Which workflow, when the file defines several.")
@click.option("--input", "input_", metavar="JSON", help="The workflow's input, as JSON.")
@click.option("--id", "workflow_id", metavar="ID",
              help="The workflow id. An id that is already running is followed, not started again.")
def run(store: str, as_json: bool, source: str, workflow_name: str | None, input_: str | None,
        workflow_id: str | None) -> None:
    """Run a workflow from a file or module, show its progress live, print its result.

    Ctrl-C stops the engine cleanly (exit 130): the run is durable, and
    `aion worker FILE` (or `aion run` again with the same --id) carries it on.

    \b
    Example:
      aion run examples/01_hello.py --input '"world"'
      aion run app.py --workflow order --input '{"id": 1}' --id order-1
    """
    app = load([source])
    definition = app.workflow(workflow_name)
    value = parse_json(input_, "--input")
    if workflow_id is not None:
        check_workflow_id(workflow_id)
    name = app.workflow_names()[app.workflows.index(definition)]
    engine = Engine(store, workflows=app.workflows, activities=app.activities, serve_requests=True)
    out = render.console()
    with stop_on_signals():
        _run(engine, definition, name, value, workflow_id, source, store, out, as_json)


def _run(engine: Engine, definition: Any, name: str, value: Any, workflow_id: str | None, source: str, store: str,
         out: Any, as_json: bool) -> None:
    try:
        engine.open()
        existing = engine._store.get_summary(workflow_id) if workflow_id is not None else None
        if existing is not None:
            if existing.workflow_type != name:
                raise InvalidArgument(f"workflow {workflow_id!r} exists and is a {existing.workflow_type!r}, "
                                      f"not a {name!r}; pick another --id")
            handle = engine.get_handle(workflow_id)
        else:
            handle = engine.start(definition, value, id=workflow_id)
        workflow_id = handle.workflow_id
        if not as_json:
            verb = "following" if existing is not None else "started"
            out.print(f"[bold]{verb} {render.escape(workflow_id)}[/] ({name}) on {render.escape(store)}; "
                      f"Ctrl-C stops this process, the run stays durable")
        follower = Follower(engine._store, [workflow_id], out, as_json)
        with follower.live():
            while True:
                follower.poll()
                if follower.closed(workflow_id):
                    break
                time.sleep(POLL)
        last = engine._store.read_history_from(workflow_id, engine._store.get_summary(workflow_id).last_seq)[0]
        engine.close()
        outcome(workflow_id, ev.from_stored(last), as_json)
    except KeyboardInterrupt:
        engine.close()
        where = f" --store {store}" if store != "sqlite:///aion.db" else ""
        what = f"workflow {workflow_id!r}" if workflow_id else "the run"
        raise Exit(INTERRUPTED, f"interrupted; {what} is durable and carries on when an engine serves it "
                                f"again: aion worker {source}{where}") from None
    finally:
        engine.close()


@click.command(short_help="Serve a file's workflows until stopped.")
@click.argument("sources", metavar="FILE_OR_MODULE...", nargs=-1, required=True)
@common
@click.option("--node-id", metavar="ID",
              help="This node's stable name in the cluster (default: a new one each start). A node restarted "
                   "with the same id takes its shards back at once.")
@click.option("--lease-ttl", type=click.FloatRange(min=1.0), metavar="SECONDS",
              help="How long this node's shards stay its own without a heartbeat (default 10); a shorter "
                   "one fails over faster and writes more heartbeats.")
@click.option("--task-queue", "task_queues", metavar="NAME", multiple=True,
              help="Also run the activity attempts of this task queue (repeat for several), whichever node "
                   "owns their workflows.")
@click.option("--no-shards", is_flag=True,
              help="A worker-only process: run task queue attempts, own no workflow (needs --task-queue).")
@click.option("--worker-concurrency", type=click.IntRange(min=1), metavar="N",
              help="At most N attempts of each --task-queue at once in this process (default 8).")
@click.option("--concurrency", type=click.IntRange(min=1), metavar="N",
              help="At most N attempts of each --task-queue at once across the whole cluster (kept in the store).")
@click.option("--rate-limit", type=click.IntRange(min=1), metavar="N",
              help="At most N attempts of each --task-queue start per --rate-period across the cluster.")
@click.option("--rate-period", type=click.FloatRange(min=0, min_open=True), default=60.0, show_default=True,
              metavar="SECONDS", help="The --rate-limit window.")
@click.option("--partitioned", is_flag=True,
              help="--concurrency and --rate-limit apply to each partition_key of the queue on its own.")
@click.option("--task-lease", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS",
              help="How long a claim on an attempt lasts unrenewed (default 10): a killed worker's attempts "
                   "are retried elsewhere after this long.")
def worker(store: str, as_json: bool, sources: tuple[str, ...], node_id: str | None,
           lease_ttl: float | None, task_queues: tuple[str, ...], no_shards: bool, worker_concurrency: int | None,
           concurrency: int | None, rate_limit: int | None, rate_period: float, partitioned: bool,
           task_lease: float | None) -> None:
    """Serve the workflows of files or modules until Ctrl-C or SIGTERM.

    It resumes the runs it finds running, fires their timers, and answers
    `aion start/signal/query/cancel/terminate/pause/resume` from other processes.
    Stopping it is clean (exit 0); the runs stay durable. Several workers on
    one store are a cluster: each serves its share of the workflows (see
    `aion cluster status`).

    \b
    Example:
      aion worker examples/02_signals_and_queries.py --store sqlite:///aion.db
      aion worker app.py --node-id node-1 --lease-ttl 5
      aion worker app.py --task-queue gpu --no-shards --worker-concurrency 2
    """
    app = load(list(sources))
    if no_shards and not task_queues:
        raise InvalidArgument("--no-shards makes a worker-only process: give the queues it serves with "
                              "--task-queue NAME")
    if not app.workflows and not no_shards:
        raise InvalidArgument(f"{', '.join(sources)} defines no workflow (decorate one with @workflow.defn); "
                              f"to only run task queue attempts, pass --no-shards --task-queue NAME")
    cluster: dict[str, Any] = {}  # only what was given: the Engine's own defaults apply otherwise
    if task_queues:
        cluster["task_queues"] = [TaskQueue(name, concurrency=concurrency, worker_concurrency=worker_concurrency,
                                            rate_limit=rate_limit, rate_period=rate_period, partitioned=partitioned)
                                  for name in dict.fromkeys(task_queues)]
    if task_lease is not None:
        cluster["task_lease"] = task_lease
    if no_shards:
        cluster["owns_shards"] = False
    if node_id is not None:
        cluster["node_id"] = node_id
    if lease_ttl is not None:
        cluster["lease_ttl"] = lease_ttl
    engine = Engine(store, workflows=app.workflows, activities=app.activities,
                    serve_requests=None if no_shards else True, **cluster)
    with stop_on_signals():
        _serve(engine, app, store, as_json, task_queues)


def _serve(engine: Engine, app: Any, store: str, as_json: bool, task_queues: tuple[str, ...] = ()) -> None:
    try:
        engine.open()
        workflows = app.workflow_names() if engine._config.owns_shards else []
        if as_json:
            click.echo(dumps({"serving": workflows, "activities": app.activity_names(),
                              "task_queues": list(task_queues), "store": store, "resumed": engine.resumed}))
        else:
            queues = f"; task queues: {', '.join(task_queues)}" if task_queues else ""
            click.echo(f"aion worker: serving {', '.join(workflows) or 'no workflow'}{queues} "
                       f"(activities: {', '.join(app.activity_names()) or 'none'}) on {store}; "
                       f"resumed {engine.resumed} running; Ctrl-C to stop")
        while True:
            time.sleep(0.5)
    except KeyboardInterrupt:
        engine.close()
        if not as_json:
            click.echo("aion worker: stopped; running workflows stay durable")
        raise Exit(OK) from None
    finally:
        engine.close()
