"""09 — A local cluster: three nodes on one store, one killed with SIGKILL, nothing lost.

`aion worker app.py` is one node. Several nodes on one store form a cluster:
the store splits the workflows into shards (a stable hash of the workflow
id), and each shard is owned by exactly one live node at a time, through a
lease the node renews with its heartbeats. Every write of a shard's
workflows carries the lease's fencing token, so a node that lost a shard
cannot write to it any more.

`aion cluster up --nodes 3 app.py` runs three nodes on this machine under an
OTP supervisor (one_for_one, permanent children). Each node is watched by
its process id, not only by what the actor library reports: a node killed
with SIGKILL is running again within a second, under the same node id, and
gets its share of the shards again; its workflows replay from their
histories, on it or on a survivor that took their shard over meanwhile,
and carry on where they were (a step in flight when it died runs again:
activities are at-least-once). Ctrl-C (or SIGTERM) stops every node
cleanly, and no node outlives the command, even when it is killed itself.

This script is both the app and the walkthrough:

1. it starts `aion cluster up --nodes 3` on this file, as you would in a terminal;
2. starts 20 `trip` workflows (a durable sleep and an activity, three
   times) through the CLI client, `aion start`, from any process;
3. shows which node owns each workflow (`leases()` and `shard_of`);
4. kills node-2 with SIGKILL while its workflows are in flight;
5. waits until every workflow completed, shows `aion cluster status`, and
   on which process each step of node-2's workflows ran: before the kill
   on the old process, after it on the restarted node-2 or on the survivor
   that owns the shard now;
6. stops the cluster with SIGTERM.

    python examples/09_local_cluster.py

In a terminal of your own the same is:

    aion cluster up --nodes 3 examples/09_local_cluster.py &
    aion start trip --input 1 --id trip-1
    aion cluster status
    kill -9 <a node's pid>          # watch `aion cluster up` restart it
"""

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import aion_actors as aion
from aion_actors import activity, workflow
from stores import shard_of
from stores.url import open_store

STORE = "sqlite:///aion.db"
STEPS_LOG = Path("steps.log").resolve()  # one line per step attempt: workflow id, step, pid
TRIPS, STEPS, LEASE_TTL = 20, 3, 2


@activity.defn
def travel(leg: dict) -> int:
    with open(os.environ.get("TRIP_STEPS_LOG", STEPS_LOG), "a") as log:
        log.write(f"{leg['trip']} {leg['step']} {os.getpid()}\n")
    time.sleep(0.2)  # the leg itself
    return os.getpid()


@workflow.defn
async def trip(n: int) -> list:
    pids = []
    for step in range(1, STEPS + 1):
        await workflow.sleep(1.0)  # durable: a timer that survives the node's death
        pids.append(await workflow.execute_activity(
            travel, {"trip": workflow.info().workflow_id, "step": step}, start_to_close_timeout=30,
            retry=aion.RetryPolicy(max_attempts=5, initial_interval=0.2)))
    return pids


def aion_cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "aion_actors.cli", *args, "--store", STORE]


def lines_of(stream) -> queue.Queue:
    """`aion cluster up --json` prints one JSON object a line; read them as they come."""
    lines: queue.Queue = queue.Queue()

    def read() -> None:
        for line in stream:
            lines.put(json.loads(line))
        lines.put(None)
    threading.Thread(target=read, daemon=True).start()
    return lines


def next_event(lines: queue.Queue, kind: str) -> dict:
    while True:
        line = lines.get(timeout=60)
        if line is None:
            raise SystemExit("aion cluster up stopped unexpectedly; see its output above")
        if line["event"] == kind:
            return line


def wait_until(what: str, check, up: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if up.poll() is not None:
            raise SystemExit(f"aion cluster up stopped (exit {up.returncode}) while waiting for {what}; "
                             f"see its message above")
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up waiting for {what}")
        time.sleep(0.1)


def owners(store) -> dict[int, str]:
    """Shard -> its live owner."""
    return {lease.shard: lease.owner for lease in store.leases() if lease.live and lease.owner}


def steps_run() -> list[tuple[str, int, int]]:
    if not STEPS_LOG.exists():
        return []
    return [(w, int(s), int(p)) for w, s, p in (line.split() for line in STEPS_LOG.read_text().splitlines())]


def main() -> None:
    STEPS_LOG.unlink(missing_ok=True)
    open_store(STORE).close()  # create it, so reading it below never races the nodes
    env = {**os.environ, "TRIP_STEPS_LOG": str(STEPS_LOG)}
    print("1. aion cluster up --nodes 3 (lease ttl 2 s)")
    up = subprocess.Popen(aion_cli("cluster", "up", "--nodes", "3", __file__, "--lease-ttl", str(LEASE_TTL),
                                   "--json"), stdout=subprocess.PIPE, text=True, env=env)
    store = open_store(STORE)
    try:
        lines = lines_of(up.stdout)
        node_of: dict[int, str] = {}
        for _ in range(3):
            started = next_event(lines, "started")
            node_of[started["pid"]] = started["node"]
            print(f"   {started['node']} runs as pid {started['pid']}")
        shards = store.shard_count()
        wait_until("every shard to have an owner", lambda: len(owners(store)) == shards, up)

        ids = [f"trip-{n}" for n in range(1, TRIPS + 1)]
        print(f"2. starting {TRIPS} trips with `aion start`")
        starts = [subprocess.Popen(aion_cli("start", "trip", "--input", str(n), "--id", wid, "--timeout", "30"),
                                   stdout=subprocess.DEVNULL) for n, wid in enumerate(ids, 1)]
        if any(p.wait() != 0 for p in starts):
            raise SystemExit("a start failed; see its message above")

        before = owners(store)
        victim = "node-2"
        theirs = [wid for wid in ids if before.get(shard_of(wid, shards)) == victim]
        print("3. who owns what:")
        for node in sorted(set(before.values())):
            mine = [wid for wid in ids if before.get(shard_of(wid, shards)) == node]
            print(f"   {node}: {len(mine)} trips {', '.join(mine)}")

        victim_pid = next(pid for pid, node in node_of.items() if node == victim)
        wait_until(f"{victim} to be in the middle of its trips",
                   lambda: not theirs or any(w in theirs for w, _, _ in steps_run()), up)
        print(f"4. kill -9 {victim} (pid {victim_pid})")
        killed_at = time.monotonic()
        os.kill(victim_pid, signal.SIGKILL)
        next_event(lines, "died")
        restarted = next_event(lines, "started")
        node_of[restarted["pid"]] = restarted["node"]
        print(f"   {restarted['node']} running again as pid {restarted['pid']}, "
              f"{time.monotonic() - killed_at:.2f} s after the kill")

        print(f"5. waiting for all {TRIPS} trips to complete")
        wait_until("every trip to complete",
                   lambda: all((s := store.get_summary(wid)) is not None and s.status == "completed" for wid in ids),
                   up, timeout=90)
        settle = time.monotonic() + 10 * LEASE_TTL  # the survivors and the restarted node-2 share the shards again
        while len(owners(store)) < shards and time.monotonic() < settle:
            time.sleep(0.1)
        print(subprocess.run(aion_cli("cluster", "status", "--lease-ttl", str(LEASE_TTL)), capture_output=True,
                             text=True).stdout.rstrip())
        after = owners(store)
        runs = steps_run()
        for wid in theirs:
            shard = shard_of(wid, shards)
            where = ", ".join(f"step {s} on {node_of.get(p, '?')} (pid {p})" for w, s, p in runs if w == wid)
            print(f"   {wid} (shard {shard}: {before[shard]} -> {after.get(shard, 'nobody')}): {where}")
        again = len(runs) - TRIPS * STEPS
        print(f"   all {TRIPS} completed; {len(runs)} step attempts for {TRIPS * STEPS} steps "
              f"({again} re-run after the kill interrupted them)")
    finally:
        store.close()
        print("6. stopping the cluster (SIGTERM)")
        if up.poll() is None:
            up.send_signal(signal.SIGTERM)
        print(f"   aion cluster up exited with code {up.wait(60)}")


if __name__ == "__main__":
    main()
