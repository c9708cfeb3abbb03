"""The app the cluster tests serve on several nodes: steps of a durable sleep then an activity.

Every activity execution appends one line to the side-effect log named by
`AION_SIDE_LOG` (workflow, activity id, attempt, node pid), so a test
counts executions against the attempts the histories recorded.
"""

import json
import os

from aion_actors import activity, workflow


@activity.defn
def step(n: int) -> int:
    info = activity.info()
    line = json.dumps({"workflow_id": info.workflow_id, "activity_id": info.activity_id, "attempt": info.attempt,
                       "pid": os.getpid()})
    with open(os.environ["AION_SIDE_LOG"], "a") as log:
        log.write(line + "\n")
    return n


@workflow.defn
async def steps(count: int) -> int:
    total = 0
    for n in range(count):
        await workflow.sleep(0.3)
        total += await workflow.execute_activity(step, n, start_to_close_timeout=30)
    return total


@workflow.defn
async def inbox_counter(expected: int) -> list:
    """Ends once it has received `expected` 'add' signals; returns them in order."""
    got = []
    while len(got) < expected:
        got.append(await workflow.receive("add"))
    return got


@workflow.defn
async def parent(children: int) -> int:
    """Starts children (their ids spread over shards, so over nodes) and sums what they return."""
    handles = [workflow.start_child(steps, 2) for _ in range(children)]
    return sum([await h for h in handles])


@workflow.defn
async def pinger(target: str) -> str:
    """Signals another workflow (likely on another node's shard) and waits for the delivery."""
    await workflow.signal_external(target, "add", "ping")
    return "sent"
