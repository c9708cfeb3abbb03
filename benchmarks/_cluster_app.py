"""The app `benchmarks/cluster.py` serves on its `aion worker` nodes (and on in-process engines).

Kept free of imports from the benchmarks so that `_cluster_onenode.py` can load it
against another checkout of `aion_actors` (the commit before the cluster work).
"""

from aion_actors import activity, workflow


@activity.defn
async def greet(name: str) -> str:
    return f"Hello, {name}!"


@workflow.defn
async def hello(name: str) -> str:
    return await workflow.execute_activity(greet, name, start_to_close_timeout=30)


@workflow.defn
async def listener() -> None:
    """Waits on 'ping' forever: the target of the signal round trips."""
    while True:
        await workflow.receive("ping")


@activity.defn
async def tick(n: int) -> int:
    return n


@workflow.defn
async def looper(steps: int) -> int:
    """Short durable steps (a 0.1 s timer, then an activity): always about to record something."""
    for n in range(steps):
        await workflow.sleep(0.1)
        await workflow.execute_activity(tick, n, start_to_close_timeout=30)
    return steps


WORKFLOWS = [hello, listener, looper]
ACTIVITIES = [greet, tick]
