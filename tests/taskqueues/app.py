"""The app of the task queue tests: activities on the "gpu" queue that log what they do.

Each activity appends a JSON line per event to $AION_SIDE_LOG (with the pid and the
attempt), so a test sees what ran where, when, and how often.
"""

from __future__ import annotations

import json
import os
import time

import aion_actors as aion
from aion_actors import activity, workflow


def log(event: str, **fields) -> None:
    info = activity.info()
    line = {"event": event, "workflow_id": info.workflow_id, "attempt": info.attempt, "pid": os.getpid(),
            "at": time.time(), **fields}
    with open(os.environ["AION_SIDE_LOG"], "a") as f:
        f.write(json.dumps(line) + "\n")


@activity.defn(task_queue="gpu")
def render(scene: str) -> str:
    log("render")
    return f"rendered {scene}"


@activity.defn(task_queue="gpu")
def fails_twice(key: str) -> int:
    log("fails_twice")
    if activity.info().attempt < 3:
        raise RuntimeError(f"attempt {activity.info().attempt} fails")
    return activity.info().attempt


@activity.defn(task_queue="gpu")
def progress(steps: int) -> dict:
    """Heartbeats its progress; a retry resumes from the last step its details recorded."""
    start = activity.info().heartbeat_details or {"step": 0}
    log("progress", resumed_from=start["step"])
    for step in range(start["step"] + 1, steps + 1):
        activity.heartbeat({"step": step})
        log("step", step=step)
        time.sleep(0.1)
    return {"resumed_from": start["step"], "attempt": activity.info().attempt}


@activity.defn(task_queue="gpu")
def job(seconds: float) -> int:
    log("start")
    time.sleep(seconds)
    log("end")
    return os.getpid()


@activity.defn(task_queue="gpu")
def slow_first(seconds: float) -> str:
    """Attempt 1 takes `seconds`, later ones answer at once."""
    log("slow_first")
    if activity.info().attempt == 1:
        time.sleep(seconds)
        log("late")
        return "late"
    return "fresh"


@activity.defn(task_queue="gpu")
def until_cancelled() -> str:
    log("until_cancelled")
    try:
        while True:
            activity.heartbeat("alive")
            time.sleep(0.05)
    except aion.ActivityCancelled:
        log("cancelled")
        raise


@workflow.defn
async def one(scene: str) -> str:
    return await workflow.execute_activity(render, scene)


@workflow.defn
async def retried(key: str) -> int:
    return await workflow.execute_activity(fails_twice, key, retry=aion.RetryPolicy(max_attempts=5,
                                                                                    initial_interval=0.05))


@workflow.defn
async def resumable(steps: int) -> dict:
    return await workflow.execute_activity(progress, steps, retry=aion.RetryPolicy(max_attempts=5,
                                                                                   initial_interval=0.05))


@workflow.defn
async def fan_out(jobs: list) -> list:
    return await workflow.all([workflow.execute_activity(job, seconds) for seconds in jobs])


@workflow.defn
async def late(seconds: float) -> str:
    return await workflow.execute_activity(slow_first, seconds, retry=aion.RetryPolicy(max_attempts=3,
                                                                                       initial_interval=0.05))


@workflow.defn
async def cancellable() -> str:
    return await workflow.execute_activity(until_cancelled, heartbeat_timeout=10)


@workflow.defn
async def bounded(seconds: float) -> str:
    return await workflow.execute_activity(job, seconds, start_to_close_timeout=0.5)


@workflow.defn
async def prioritized(priority: int) -> int:
    return await workflow.execute_activity(job, 0.01, priority=priority)
