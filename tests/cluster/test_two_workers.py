"""Issue 11's first finding, as a user meets it: two `aion worker` processes on one store."""

from __future__ import annotations

import time

from stores.leases import shard_of
from tests.waiting import wait_for

# A node joining a one-node cluster takes the highest shards first (`placement.plan`): wf-1 (shard 62)
# and wf-4 (49) move to the second worker while they run, wf-2 (shard 4) stays with the first.
IDS = ("wf-1", "wf-4", "wf-2")


def test_a_second_worker_joining_takes_its_share_and_nothing_runs_twice(cluster):
    assert [shard_of(w, 64) for w in IDS] == [62, 49, 4]
    first = cluster.start_node("first")
    for workflow_id in IDS:
        done = cluster.aion("start", "steps", "--input", "30", "--id", workflow_id)
        assert done.returncode == 0, done.stderr
    time.sleep(1.0)  # the scenario of the issue: the second worker joins a second later
    second = cluster.start_node("second")

    assert cluster.wait_closed(IDS, timeout=120) == {w: "completed" for w in IDS}
    cluster.assert_clean(IDS)
    ran = cluster.executions()
    assert len(ran) == 3 * 30 and set(ran.values()) == {1}, [k for k, c in ran.items() if c > 1]
    pids = {w: {pid for (wf, _, _), pid in cluster.pids().items() if wf == w} for w in IDS}
    assert pids["wf-2"] == {first.pid}
    assert {second.pid} <= pids["wf-1"] | pids["wf-4"], pids  # work moved to the joining node mid-run
    wait_for(lambda: set(cluster.owners().values()) == {"first", "second"}, timeout=30,
             what="both workers owning shards")
