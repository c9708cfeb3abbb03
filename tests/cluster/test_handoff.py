"""A node joins and then leaves while many workflows run: no run stalls longer than one lease timeout."""

from __future__ import annotations

import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import aion_actors as aion
from tests.waiting import wait_for

from .conftest import LEASE_TTL


def _handoff(cluster, workflows: int) -> None:
    cluster.start_node("a")
    ids = [f"h-{i}" for i in range(workflows)]
    with aion.Engine(cluster.store_url, owns_shards=False) as client, ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda w: client.start("steps", 8, id=w), ids))
    cluster.start_node("b")
    wait_for(lambda: set(cluster.owners().values()) == {"a", "b"} and len(cluster.owners()) == 64, timeout=60,
             what="b taking its share")
    time.sleep(1.0)
    cluster.kill("b", signal.SIGTERM)  # a clean stop: b hands its shards back before it exits
    assert cluster.wait_closed(ids, timeout=300) == {w: "completed" for w in ids}
    cluster.assert_clean(ids)
    assert set(cluster.executions().values()) == {1}  # a graceful handoff re-runs nothing
    # The longest quiet spell of each run, between two of its events: its own steps take 0.3 s,
    # so anything near a lease timeout is a handoff that stalled it.
    stalls = []
    for w in ids:
        times = [e.recorded_at.timestamp() for e in cluster.history(w)]
        stalls.append(max(b - a for a, b in zip(times, times[1:])))
    assert max(stalls) < LEASE_TTL + 1.0, sorted(stalls)[-5:]


def test_handoff_while_100_workflows_run(cluster):
    _handoff(cluster, 100)


@pytest.mark.slow
@pytest.mark.timeout(1200)  # minutes of kills or handoffs: past the suite's 300 s per test
def test_handoff_while_500_workflows_run(cluster):
    _handoff(cluster, 500)
