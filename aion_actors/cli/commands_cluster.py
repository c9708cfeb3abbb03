"""`aion cluster up` (N supervised `aion worker` nodes on this machine) and `aion cluster status`."""

from __future__ import annotations

import logging
import signal as signals
import threading
from typing import Any, Iterator

import click
from rich.table import Table

from ..cluster import local
from ..errors import InvalidArgument
from . import render
from .load import load
from .options import ERROR, OK, Exit, common, dumps, existing_store

DEFAULT_LEASE_TTL = 10.0


@click.group(short_help="Run several nodes on one store, and see them.")
def cluster() -> None:
    """A cluster: engine nodes sharing one store, each owning a share of the workflows.

    Every `aion worker` is a node; `aion cluster up` runs several on this
    machine under a supervisor, and `aion cluster status` shows who owns what.

    \b
    Example:
      aion cluster up --nodes 3 app.py --store sqlite:///aion.db
      aion cluster status
    """


def _lease_ttl_option(fn: Any) -> Any:
    return click.option("--lease-ttl", type=click.FloatRange(min=1.0), default=DEFAULT_LEASE_TTL,
                        show_default=True, metavar="SECONDS",
                        help="A node silent this long loses its shards to the others.")(fn)


@cluster.command(short_help="Start N nodes serving a file's workflows; restart any that dies.")
@click.argument("sources", metavar="FILE_OR_MODULE...", nargs=-1, required=True)
@common
@click.option("--nodes", type=click.IntRange(min=1), default=3, show_default=True, metavar="N",
              help="How many node processes.")
@_lease_ttl_option
@click.option("--max-restarts", type=click.IntRange(min=0), default=local.INTENSITY, show_default=True, metavar="N",
              help="More node restarts than this ...")
@click.option("--within", type=click.FloatRange(min=0.1), default=local.PERIOD, show_default=True,
              metavar="SECONDS", help="... within this many seconds stop the whole cluster (exit 1).")
@click.option("--log-dir", metavar="DIR",
              help="Where each node's output goes (DIR/node-<i>.log). Default: a temporary folder, "
                   "removed after a clean stop.")
def up(sources: tuple[str, ...], store: str, as_json: bool, nodes: int, lease_ttl: float, max_restarts: int,
       within: float, log_dir: str | None) -> None:
    """Run N `aion worker` nodes of FILE_OR_MODULE on this machine until Ctrl-C or SIGTERM.

    The nodes (node-1 ... node-N) share the store and split its workflows.
    Each runs under a supervisor: a node that dies (even with kill -9) is
    restarted at once with the same node id and gets its share of the
    shards again.
    A node that keeps dying (more than --max-restarts restarts --within
    seconds) stops the whole cluster (exit 1, with that node's last
    output). Stopping is clean: every node gets SIGTERM and hands its
    shards off (SIGKILL after 10 s); no node outlives this command, even
    when it is killed itself.

    \b
    Example:
      aion cluster up --nodes 3 app.py --store sqlite:///aion.db
      aion cluster up --nodes 2 app.py --lease-ttl 2 --json
    """
    app = load(list(sources))
    if not app.workflows:
        raise InvalidArgument(f"{', '.join(sources)} defines no workflow (decorate one with @workflow.defn)")
    node_ids = [f"node-{i}" for i in range(1, nodes + 1)]
    # Looked up at call time: the one seam tests use to supervise a stand-in command.
    command = local.worker_command(sources, store, lease_ttl)
    logging.getLogger("supervisors").addHandler(logging.NullHandler())  # our own lines say it better
    supervised = local.LocalCluster(node_ids, command, intensity=max_restarts, period=within, log_dir=log_dir)
    if as_json:
        click.echo(dumps({"event": "up", "nodes": node_ids, "store": store, "log_dir": supervised.log_dir}))
    else:
        click.echo(f"aion cluster: {nodes} node{'s' if nodes > 1 else ''} of {', '.join(sources)} on {store} "
                   f"(output in {supervised.log_dir}); Ctrl-C to stop")
    stopped = _follow(supervised, as_json)
    if stopped is not None and stopped.failed:
        if as_json:
            click.echo(dumps({"event": "failed", "node": stopped.failed_node, "reason": stopped.reason,
                              "tail": list(stopped.tail)}))
        raise Exit(ERROR, _failure(stopped, supervised, max_restarts, within))
    if not as_json:
        click.echo(f"aion cluster: stopped {nodes} node{'s' if nodes > 1 else ''}; running workflows stay durable")
    raise Exit(OK)


def _follow(supervised: local.LocalCluster, as_json: bool) -> local.ClusterStopped | None:
    """Print events until the cluster stops by itself or a signal asks it to."""
    with _stop_requested() as stop:
        supervised.start()
        try:
            for event in _events(supervised, stop):
                _print(event, as_json)
        finally:
            supervised.stop()
        for event in _events(supervised, None):  # the stop's own exits
            _print(event, as_json)
    return supervised.stopped


def _events(supervised: local.LocalCluster, stop: threading.Event | None) -> Iterator[Any]:
    while stop is None or not stop.is_set():
        event = supervised.next_event(0.1 if stop is not None else 0)
        if event is None:
            if stop is None:
                return
            continue
        yield event
        if isinstance(event, local.ClusterStopped):
            return


def _print(event: Any, as_json: bool) -> None:
    if isinstance(event, local.ClusterStopped):
        return  # said by the caller, once
    if as_json:
        if isinstance(event, local.NodeStarted):
            click.echo(dumps({"event": "started", "node": event.node_id, "pid": event.pid,
                              "restarts": event.start}))
        else:
            click.echo(dumps({"event": "stopped" if event.expected else "died", "node": event.node_id,
                              "pid": event.pid, "returncode": event.returncode}))
    elif isinstance(event, local.NodeStarted):
        again = f" (restart {event.start})" if event.start else ""
        click.echo(f"{event.node_id}: running, pid {event.pid}{again}")
    elif not event.expected:
        click.echo(f"{event.node_id}: pid {event.pid} {_how(event.returncode)}")


def _how(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by {signals.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exited with code {returncode}"


def _failure(stopped: local.ClusterStopped, supervised: local.LocalCluster, max_restarts: int, within: float) -> str:
    if stopped.failed_node is None:
        return f"the cluster's supervisor stopped ({stopped.reason!r}); every node is stopped"
    tail = "\n".join(f"  {line}" for line in stopped.tail) or "  (nothing)"
    return (f"node {stopped.failed_node} kept dying (more than {max_restarts} restarts within {within:g} s), "
            f"so every node was stopped. Its last output ({supervised.log_path(stopped.failed_node)}):\n{tail}\n"
            f"Fix what it says (run `aion worker` with the same file and --store to see it alone), then start "
            f"the cluster again.")


class _stop_requested:
    """SIGINT and SIGTERM set an event the main thread polls; they never interrupt the supervisor's
    thread in the middle of a restart. The previous handlers come back on exit."""

    def __enter__(self) -> threading.Event:
        self.event = threading.Event()
        self.before = {sig: signals.signal(sig, lambda *_: self.event.set())
                       for sig in (signals.SIGINT, signals.SIGTERM)}
        return self.event

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.before.items():
            signals.signal(sig, handler)


@cluster.command(short_help="The nodes serving a store, and the shards each owns.")
@common
@_lease_ttl_option
def status(store: str, as_json: bool, lease_ttl: float) -> None:
    """Show the nodes of the store's cluster: id, host and pid, heartbeat age, live or not,
    shards owned, resident runs, load and capabilities; and the shards nobody owns.

    A node is live when its last heartbeat is at most --lease-ttl seconds old
    (by the store's clock). Give the --lease-ttl the nodes run with.

    \b
    Example:
      aion cluster status --store sqlite:///aion.db
      aion cluster status --json
    """
    with existing_store(store) as s:
        nodes = s.nodes(lease_ttl)
        leases = s.leases()
    owned: dict[str, int] = {}
    for lease in leases:
        if lease.owner is not None and lease.live:
            owned[lease.owner] = owned.get(lease.owner, 0) + 1
    unowned = [lease.shard for lease in leases if lease.owner is None or not lease.live]
    rows = [{"node_id": n.node_id, "host": n.info.get("host"), "pid": n.info.get("pid"),
             "heartbeat_age": round(n.age.total_seconds(), 3), "live": n.live, "shards": owned.get(n.node_id, 0),
             "resident": n.info.get("resident"), "load": n.info.get("load"),
             "capabilities": list(n.info.get("capabilities") or ())} for n in nodes]
    if as_json:
        click.echo(dumps({"nodes": rows, "shards": len(leases), "unowned_shards": unowned}))
        return
    out = render.console()
    if not rows:
        out.print(f"no nodes have served {render.escape(store)} yet; start some with "
                  f"`aion cluster up --nodes 3 app.py --store {render.escape(store)}` or `aion worker app.py`")
        return
    out.print(_nodes_table(rows))
    out.print(f"unowned shards: {len(unowned)} of {len(leases)}"
              + (f" ({_ranges(unowned)})" if unowned else ""))


def _nodes_table(rows: list[dict]) -> Table:
    table = Table("node", "host", "pid", "heartbeat", "live", "shards", "resident", "load", "capabilities")
    for r in rows:
        table.add_row(render.escape(r["node_id"]), _dash(r["host"]), _dash(r["pid"]), f"{r['heartbeat_age']:.1f} s ago",
                      "[green]live[/]" if r["live"] else "[red]gone[/]", str(r["shards"]), _dash(r["resident"]),
                      _dash(r["load"]), _dash(", ".join(map(str, r["capabilities"])) or None))
    return table


def _dash(value: Any) -> str:
    return "-" if value is None else render.escape(str(value))


def _ranges(shards: list[int]) -> str:
    """`0-3, 7, 9-10`: consecutive shards folded."""
    parts, start = [], None
    for i, shard in enumerate(shards):
        if start is None:
            start = shard
        if i + 1 == len(shards) or shards[i + 1] != shard + 1:
            parts.append(str(start) if start == shard else f"{start}-{shard}")
            start = None
    return ", ".join(parts)
