"""Workflows and activities the test kit's tests run."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import aion_actors as aion
from aion_actors import activity, workflow

DAY = 86_400.0


@workflow.defn
async def sleep_for(seconds: float) -> float:
    started = workflow.now()
    await workflow.sleep(seconds)
    return (workflow.now() - started).total_seconds()


@workflow.defn
async def two_naps(seconds: float) -> list[float]:
    started = workflow.now()
    woke = []
    for _ in range(2):
        await workflow.sleep(seconds)
        woke.append((workflow.now() - started).total_seconds())
    return woke


@activity.defn
def flaky(fail_times: int) -> str:
    if activity.info().attempt <= fail_times:
        raise ConnectionError(f"attempt {activity.info().attempt} failed")
    return f"ok on attempt {activity.info().attempt}"


@workflow.defn
async def retried(fail_times: int) -> str:
    policy = aion.RetryPolicy(initial_interval=3600, backoff=2.0, max_attempts=fail_times + 1)
    return await workflow.execute_activity(flaky, fail_times, retry=policy)


@workflow.defn
async def approval(wait_seconds: float) -> dict:
    state = {"stage": "waiting"}
    workflow.set_query_handler("stage", lambda: state["stage"])
    started = workflow.now()
    try:
        by = await workflow.receive("approve", timeout=wait_seconds)
    except TimeoutError:
        by = None
    state["stage"] = "done"
    return {"approved_by": by, "waited": (workflow.now() - started).total_seconds()}


@activity.defn
def slow_lookup(wall_seconds: float) -> str:
    time.sleep(wall_seconds)   # real work that takes real time
    return "looked up"


@workflow.defn
async def lookup_with_deadline(wall_seconds: float) -> str:
    try:
        return await asyncio.wait_for(workflow.execute_activity(slow_lookup, wall_seconds), 10)
    except TimeoutError:
        return "timed out"


@activity.defn
def charge(order: dict) -> str:
    raise RuntimeError("the real payment service must not be called from tests")


@activity.defn(name="send_email")
async def send_email(to: str) -> str:
    raise RuntimeError("the real mail server must not be called from tests")


@workflow.defn
async def checkout(order: dict) -> dict:
    receipt = await workflow.execute_activity(charge, order)
    await workflow.sleep(timedelta(days=1).total_seconds())   # a day later, say thanks
    sent = await workflow.execute_activity("send_email", order["email"])
    return {"receipt": receipt, "sent": sent}
