"""Cluster figures (issue 11): hello throughput on 1-3 nodes, cross-node signals, failover, fencing cost.

Every figure is taken end to end, as a user meets it, on a fresh store (a SQLite
file, or a throwaway PostgreSQL database created and dropped here). Nodes are
real `aion worker benchmarks/_cluster_app.py --node-id ... --lease-ttl ...`
processes; the benchmark process is the client, `Engine(url, workflows=...,
owns_shards=False)`, which owns no shard and routes every call through the
store's request inbox. Ctrl-C or SIGTERM stops every node and drops the database.

- throughput: M hello workflows (one async activity each) started by 16
  threads of the client, every result awaited; wf/s = M / (first start .. last
  result), timed once all 64 shards are owned and spread over the nodes. Also
  one plain in-process Engine doing the same (no routing); the p50/p90 of the
  time spent in `start()` and in `result()`; the cores each process used
  (utime+stime from /proc over the timed span) and the CPU ms per workflow.
- signal: `handle.signal()` round trips to a workflow waiting on `receive`
  in a loop, owned by a worker node; sent from the client, and from an
  in-process Engine that is itself a node (owning the other half of the shards).
- failover: 2 nodes, 40 workflows looping (durable sleep 0.1 s + activity);
  the victim is SIGKILLed (noticed through /proc on one machine) or SIGSTOPped
  (only its lease timing out frees its shards). Figure: per victim workflow,
  seconds from the signal to the first new event recorded (its `recorded_at`,
  on this machine's one clock); median and max. SQLite only.
- fencing: hello wf/s of one plain in-process Engine (SQLite file) on this
  checkout vs. the commit before the cluster work (964b965, extracted to /tmp
  with `git archive`), alternating subprocess runs.

    python benchmarks/cluster.py [--quick] [--runs 3] [--no-postgres] [--only throughput signal failover fencing]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import aion_actors as aion  # noqa: E402
from _cluster_app import ACTIVITIES, WORKFLOWS, listener, looper  # noqa: E402
from _cluster_nodes import REPO, cluster, cpu_seconds, store_url  # noqa: E402
from _cluster_onenode import hello_rate  # noqa: E402
from _table import print_table  # noqa: E402
from stores.leases import shard_of  # noqa: E402
from tests.freezing import freeze  # noqa: E402  (between two SQLite writes: see its docstring)

BEFORE_CLUSTER = "964b965"
ONENODE = str(Path(__file__).with_name("_cluster_onenode.py"))


# -- 1. throughput ---------------------------------------------------------------------------

def timed_hello(client: aion.Engine, nodes, workflows: int, threads: int) -> tuple[float, dict[str, float]]:
    """hello wf/s through `client`; the cores each process used meanwhile, and the p50 and p90
    of the time spent in `start()` and in `result()` (ms)."""
    pids = {name: proc.pid for name, proc in nodes.procs.items()} if nodes else {}
    before = {name: cpu_seconds(pid) for name, pid in pids.items()} | {"client": cpu_seconds()}
    began, latencies = time.perf_counter(), []
    rate = hello_rate(client, workflows, threads, latencies)
    elapsed = time.perf_counter() - began
    after = {name: cpu_seconds(pid) for name, pid in pids.items()} | {"client": cpu_seconds()}
    figures = {name: (after[name] - before[name]) / elapsed for name in before}
    for k, call in enumerate(("start", "result")):
        values = sorted(x[k] * 1000 for x in latencies)
        figures[f"{call}() p50"], figures[f"{call}() p90"] = values[len(values) // 2], values[len(values) * 9 // 10]
    return rate, figures


def cluster_hello(url: str, count: int, workflows: int, threads: int) -> tuple[float, dict[str, float]]:
    with cluster(url) as nodes:
        names = [f"node-{i}" for i in range(1, count + 1)]
        for name in names:
            nodes.start(name)
        nodes.wait_spread(names)
        with aion.Engine(url, workflows=WORKFLOWS, owns_shards=False) as client:
            return timed_hello(client, nodes, workflows, threads)


def inprocess_hello(url: str, workflows: int, threads: int) -> tuple[float, dict[str, float]]:
    with aion.Engine(url, workflows=WORKFLOWS, activities=ACTIVITIES) as engine:
        return timed_hello(engine, None, workflows, threads)


def throughput_rows(args, backends: list[tuple[str, str | None]]) -> list:
    rows = []
    for backend, server in backends:
        cases = [("in-process Engine (no routing)", lambda url: inprocess_hello(url, args.workflows, 16))]
        cases += [(f"{n} node{'s' * (n > 1)} + client", lambda url, n=n: cluster_hello(url, n, args.workflows, 16))
                  for n in args.nodes]
        for label, case in cases:
            rates, cores = [], {}
            for _ in range(args.runs):
                with store_url(backend, server) as url:
                    rate, used = case(url)
                rates.append(rate)
                for name, c in used.items():
                    cores.setdefault(name, []).append(c)
                print(f"  {backend} {label}: {rate:,.0f} wf/s, {({k: round(v, 2) for k, v in used.items()})}",
                      file=sys.stderr)
            rows.append((backend, f"{label}: hello wf/s", rates, 0))
            rows += [(backend, f"{label}: {call} (ms)", cores.pop(call), 1)
                     for call in ("start() p50", "start() p90", "result() p50", "result() p90")]
            nodes_total = [sum(v[i] for k, v in cores.items() if k != "client") for i in range(args.runs)]
            if any(nodes_total):
                rows.append((backend, f"{label}: cores used by all nodes", nodes_total, 2))
            rows.append((backend, f"{label}: cores used by the {'client' if any(nodes_total) else 'process'}",
                         cores["client"], 2))
            # Cores / (wf/s) = CPU seconds per workflow: the figure that says whether routing or the
            # shared machine bounds it (the PostgreSQL server's own CPU is not sampled).
            rows.append((backend, f"{label}: CPU ms per workflow (these processes)",
                         [(n + c) / r * 1000 for n, c, r in zip(nodes_total, cores["client"], rates)], 2))
    return rows


# -- 2. signal round trips ----------------------------------------------------------------------

def ping(handle, signals: int) -> list[float]:
    for _ in range(20):  # warm-up: connections, the run resident on its owner
        handle.signal("ping")
    timings = []
    for _ in range(signals):
        began = time.perf_counter()
        handle.signal("ping")
        timings.append((time.perf_counter() - began) * 1000)
    return timings


def signal_from_client(url: str, signals: int) -> list[float]:
    with cluster(url) as nodes:
        nodes.start("node-1")
        nodes.wait_spread(["node-1"])
        with aion.Engine(url, workflows=WORKFLOWS, owns_shards=False) as client:
            return ping(client.start(listener, id="listener-1"), signals)


def signal_from_node(url: str, signals: int) -> list[float]:
    with cluster(url) as nodes:
        nodes.start("node-1")
        with aion.Engine(url, workflows=WORKFLOWS, activities=ACTIVITIES, node_id="bench-node") as engine:
            owners = nodes.wait_spread(["node-1", "bench-node"])
            target = next(w for w in (f"listener-{i}" for i in range(1000)) if owners[shard_of(w, 64)] == "node-1")
            return ping(engine.start(listener, id=target), signals)


def signal_rows(args, backends) -> list:
    rows = []
    for backend, server in backends:
        for label, case in (("client → node", signal_from_client), ("node → other node", signal_from_node)):
            p50s, p99s = [], []
            for _ in range(args.runs):
                with store_url(backend, server) as url:
                    timings = sorted(case(url, args.signals))
                p50s.append(statistics.median(timings))
                p99s.append(timings[int(len(timings) * 0.99) - 1])
                print(f"  {backend} signal {label}: p50 {p50s[-1]:.2f} ms p99 {p99s[-1]:.2f} ms", file=sys.stderr)
            rows += [(backend, f"signal {label} p50 (ms)", p50s, 2), (backend, f"signal {label} p99 (ms)", p99s, 2)]
    return rows


# -- 3. failover ----------------------------------------------------------------------------------

def failover(url: str, lease_ttl: float, sig: int, workflows: int) -> list[float]:
    """Seconds from `sig` to the victim node's workflows' first new event, one per victim workflow."""
    with cluster(url) as nodes:
        nodes.start("node-a", lease_ttl)
        nodes.start("node-b", lease_ttl)
        nodes.wait_spread(["node-a", "node-b"])
        ids = [f"loop-{i}" for i in range(workflows)]
        with aion.Engine(url, workflows=WORKFLOWS, owns_shards=False) as client, ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda w: client.start(looper, 10**6, id=w), ids))
        store = nodes.store
        deadline = time.monotonic() + 60
        while min(store.get_summary(w).last_seq for w in ids) < 8:  # every run is stepping
            if time.monotonic() > deadline:
                raise SystemExit("the looping workflows did not get going within 60 s")
            time.sleep(0.05)
        owners = nodes.owners()
        victims = [w for w in ids if owners.get(shard_of(w, 64)) == "node-b"]
        proc = nodes.procs["node-b"]
        began, wall = time.monotonic(), time.time()
        if sig == signal.SIGKILL:
            nodes.signal("node-b", sig)
            proc.wait()
        else:
            freeze(proc, url)
        last = {w: store.get_summary(w).last_seq for w in victims}
        moved: dict[str, float] = {}
        while len(moved) < len(victims):
            for w in victims:
                if w not in moved and (new := store.read_history_from(w, last[w] + 1)):
                    # The engine stamps events with its wall clock: one machine, one clock, so the figure
                    # does not carry this loop's polling interval.
                    moved[w] = new[0].recorded_at.timestamp() - wall
            if time.monotonic() - began > lease_ttl + 60:
                raise SystemExit(f"{len(victims) - len(moved)} of node-b's workflows did not move within "
                                 f"{lease_ttl + 60:g} s")
            time.sleep(0.02)
        return sorted(moved.values())


def failover_rows(args) -> list:
    rows = []
    for sig, how in ((signal.SIGKILL, "SIGKILL"), (signal.SIGSTOP, "SIGSTOP")):
        for ttl in args.lease_ttls:
            medians, maxes = [], []
            for _ in range(args.runs):
                with store_url("sqlite", None) as url:
                    moved = failover(url, ttl, sig, args.loopers)
                medians.append(statistics.median(moved))
                maxes.append(max(moved))
                print(f"  failover {how} ttl {ttl:g}: {len(moved)} victims, median {medians[-1]:.2f} s "
                      f"max {maxes[-1]:.2f} s", file=sys.stderr)
            rows += [("sqlite", f"{how}, lease_ttl {ttl:g}: kill → progress, median (s)", medians, 2),
                     ("sqlite", f"{how}, lease_ttl {ttl:g}: kill → progress, max (s)", maxes, 2)]
    return rows


# -- 4. fencing: one node now vs. before the cluster -----------------------------------------------

def checkout_before() -> str:
    folder = f"/tmp/aion-bench-{BEFORE_CLUSTER}"
    if not os.path.isdir(folder):
        os.makedirs(folder + ".partial", exist_ok=True)
        archive = subprocess.run(["git", "-C", REPO, "archive", BEFORE_CLUSTER], check=True, capture_output=True)
        subprocess.run(["tar", "-x", "-C", folder + ".partial"], input=archive.stdout, check=True)
        os.rename(folder + ".partial", folder)
    return folder


def onenode_rate(checkout: str, workflows: int) -> float:
    env = {**os.environ, "PYTHONPATH": checkout}
    out = subprocess.run([sys.executable, ONENODE, "--workflows", str(workflows)], env=env, check=True,
                         capture_output=True, text=True, timeout=600).stdout.split()
    if not out[1].startswith(checkout):
        raise SystemExit(f"the run imported {out[1]}, not the checkout {checkout}")
    return float(out[0])


def fencing_rows(args) -> list:
    checkouts = {"now (fenced, node)": REPO, f"before the cluster ({BEFORE_CLUSTER})": checkout_before()}
    rates: dict[str, list[float]] = {label: [] for label in checkouts}
    for k in range(max(5, args.runs)):
        # A-B then B-A: whichever runs second in a pair does not always get the warmer machine.
        for label, checkout in sorted(checkouts.items(), reverse=bool(k % 2)):
            rates[label].append(onenode_rate(checkout, args.workflows))
        print(f"  fencing: {({k: round(v[-1]) for k, v in rates.items()})}", file=sys.stderr)
    now, before = rates.values()
    ratios = [a / b for a, b in zip(now, before)]
    return [("sqlite", f"one in-process Engine, {label}: hello wf/s", values, 0) for label, values in rates.items()] \
        + [("sqlite", "now / before, per alternation", ratios, 3)]


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 200 workflows, 200 signals, lease_ttl 2 only, 1 and 3 nodes")
    parser.add_argument("--runs", type=int, default=3, help="runs per figure; the median is reported (default 3)")
    parser.add_argument("--workflows", type=int, default=None, help="hello workflows per run (default 500)")
    parser.add_argument("--signals", type=int, default=None, help="timed signals per run (default 500)")
    parser.add_argument("--loopers", type=int, default=40, help="looping workflows of the failover (default 40)")
    parser.add_argument("--postgres", nargs="?", const=os.environ.get("AION_TEST_POSTGRES_URL"),
                        default=os.environ.get("AION_TEST_POSTGRES_URL"),
                        help="PostgreSQL server URL for a throwaway database (default: $AION_TEST_POSTGRES_URL)")
    parser.add_argument("--no-postgres", dest="postgres", action="store_const", const=None,
                        help="SQLite only")
    parser.add_argument("--only", nargs="+", choices=["throughput", "signal", "failover", "fencing"],
                        default=["throughput", "signal", "failover", "fencing"], help="which figures")
    args = parser.parse_args()
    # SIGTERM unwinds like Ctrl-C, so every node is stopped and a PostgreSQL database dropped.
    signal.signal(signal.SIGTERM, _interrupted)
    args.workflows = args.workflows or (200 if args.quick else 500)
    args.signals = args.signals or (200 if args.quick else 500)
    args.nodes = [1, 3] if args.quick else [1, 2, 3]
    args.lease_ttls = [2.0] if args.quick else [10.0, 2.0]
    backends = [("sqlite", None)] + ([("postgresql", args.postgres)] if args.postgres else [])
    load = os.getloadavg()
    began = time.monotonic()
    rows = []
    if "throughput" in args.only:
        rows += throughput_rows(args, backends)
    if "signal" in args.only:
        rows += signal_rows(args, backends)
    if "failover" in args.only:
        rows += failover_rows(args)
    if "fencing" in args.only:
        rows += fencing_rows(args)
    print(f"{args.runs} runs per figure (fencing: {max(5, args.runs)} alternations); {args.workflows} hello "
          f"workflows, {args.signals} signals, {args.loopers} looping workflows per run; "
          f"{os.cpu_count()} cores; load average {load[0]:.2f} before, {os.getloadavg()[0]:.2f} after; "
          f"{time.monotonic() - began:.0f} s")
    if not args.postgres:
        print("note: PostgreSQL skipped (pass --postgres URL or set AION_TEST_POSTGRES_URL)")
    print_table(rows, first="store")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        raise SystemExit("interrupted: every node started here is stopped, every database dropped") from None
