"""Activities on a task queue, served by a second engine in the same process (SQLite file, PostgreSQL)."""

from __future__ import annotations

import threading
import time

import pytest

import aion_actors as aion
from tests.waiting import wait_for
from aion_actors import activity, workflow


RAN_ON: list[str] = []
FLAKY: dict[str, int] = {}


@activity.defn(task_queue="gpu")
def render(scene: str) -> str:
    RAN_ON.append(threading.current_thread().name)
    return f"rendered {scene} (attempt {activity.info().attempt})"


@activity.defn(task_queue="gpu")
def flaky(key: str) -> int:
    FLAKY[key] = FLAKY.get(key, 0) + 1
    if FLAKY[key] < 3:
        raise RuntimeError(f"failure {FLAKY[key]}")
    return activity.info().attempt


@workflow.defn
async def one(scene: str) -> str:
    return await workflow.execute_activity(render, scene)


@workflow.defn
async def retried(key: str) -> int:
    return await workflow.execute_activity(flaky, key, retry=aion.RetryPolicy(max_attempts=5, initial_interval=0.05))


OWNER = {"workflows": [one, retried], "activities": []}


@pytest.fixture(params=["sqlite", "postgres"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/aion.db"
    return request.getfixturevalue("postgres_url")


def test_an_attempt_on_a_queue_runs_on_the_engine_serving_it(url):
    with aion.Engine(url, **OWNER) as owner, \
            aion.Engine(url, owns_shards=False, activities=[render], task_queues=["gpu"]):
        # The owner does not even know `render`: only the gpu worker could have run it.
        assert owner.start(one, "teapot", id="w1").result(30) == "rendered teapot (attempt 1)"


def test_a_failed_remote_attempt_is_retried_per_its_policy(url):
    key = url
    with aion.Engine(url, **OWNER) as owner, \
            aion.Engine(url, owns_shards=False, activities=[flaky], task_queues=[aion.TaskQueue("gpu")]):
        assert owner.start(retried, key, id="w2").result(30) == 3
    assert FLAKY[key] == 3


@workflow.defn
async def overridden(scene: str) -> str:
    return await workflow.execute_activity(render, scene, task_queue="gpu-big", priority=5, partition_key="acme")


def test_the_call_s_queue_wins_over_the_declared_one_and_is_recorded(url):
    from aion_actors import events as ev

    with aion.Engine(url, workflows=[overridden]) as owner, \
            aion.Engine(url, owns_shards=False, activities=[render], task_queues=["gpu"]):
        handle = owner.start(overridden, "tree", id="w3")
        with pytest.raises(TimeoutError):
            handle.result(0.5)  # the gpu worker does not serve gpu-big
        with aion.Engine(url, owns_shards=False, activities=[render], task_queues=["gpu-big"]):
            assert handle.result(30) == "rendered tree (attempt 1)"
        scheduled = next(e.event for e in handle.history() if isinstance(e.event, ev.ActivityScheduled))
        assert (scheduled.options["task_queue"], scheduled.options["priority"],
                scheduled.options["partition_key"]) == ("gpu-big", 5, "acme")


@activity.defn(task_queue="gpu")
def quiet(seconds: float) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not activity.is_cancelled():
        time.sleep(0.02)
    return "quiet"


@activity.defn(task_queue="gpu")
def chatty(seconds: float) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        activity.heartbeat("working")
        time.sleep(0.05)
    return "chatty"


@workflow.defn
async def watched(name: str) -> str:
    return await workflow.execute_activity(name, 2.0, heartbeat_timeout=0.6)


def test_heartbeat_timeout_holds_for_a_remote_attempt(url):
    from aion_actors import events as ev

    # The owner knows the activities too: called by name, they go to the queue they were declared with.
    with aion.Engine(url, workflows=[watched], activities=[quiet, chatty]) as owner, \
            aion.Engine(url, owns_shards=False, activities=[quiet, chatty], task_queues=["gpu"]):
        # Heartbeats travel worker -> store -> owner fast enough to keep a 0.6 s timeout from firing...
        assert owner.start(watched, "chatty", id="chatty").result(30) == "chatty"
        scheduled = next(e.event for e in owner.get_handle("chatty").history()
                         if isinstance(e.event, ev.ActivityScheduled))
        assert scheduled.options["task_queue"] == "gpu"
        # ...and an attempt that never heartbeats is timed out by its owner.
        handle = owner.start(watched, "quiet", id="quiet")
        with pytest.raises(aion.WorkflowFailed):
            handle.result(30)
        failed = [e.event for e in handle.history() if isinstance(e.event, ev.ActivityFailed)]
        assert [(f.failure.type, "heartbeat" in f.failure.message) for f in failed] == [("ActivityTimeout", True)]


@workflow.defn
async def patient() -> str:
    return await workflow.execute_activity(quiet, 0.5, task_queue="gpu", start_to_close_timeout=60)


def test_time_skipping_does_not_jump_past_a_running_remote_attempt(url):
    with aion.Engine(url, workflows=[patient], time_skipping=True) as owner, \
            aion.Engine(url, owns_shards=False, activities=[quiet], task_queues=["gpu"]):
        assert owner.start(patient, id="patient").result(30) == "quiet"


def test_one_engine_can_own_the_workflow_and_serve_its_queue(url):
    with aion.Engine(url, workflows=[one], activities=[render], task_queues=["gpu"]) as engine:
        assert engine.start(one, "alone", id="alone").result(30) == "rendered alone (attempt 1)"


SPANS: list[tuple[str, float, float]] = []


@activity.defn(task_queue="tenants")
async def tenant_job(tenant: str) -> str:
    import asyncio

    started = time.monotonic()
    await asyncio.sleep(0.2)
    SPANS.append((tenant, started, time.monotonic()))
    return tenant


@workflow.defn
async def per_tenant(tenants: list) -> list:
    return await workflow.all([workflow.execute_activity(tenant_job, t, partition_key=t) for t in tenants])


def test_a_partitioned_limit_applies_per_partition_key(url):
    SPANS.clear()
    queue = aion.TaskQueue("tenants", concurrency=1, partitioned=True)
    with aion.Engine(url, workflows=[per_tenant]) as owner, \
            aion.Engine(url, owns_shards=False, activities=[tenant_job], task_queues=[queue]):
        assert owner.start(per_tenant, ["a", "a", "a", "b", "b", "b"]).result(30) == ["a"] * 3 + ["b"] * 3

    def overlap(x, y) -> bool:
        return x[1] < y[2] and y[1] < x[2]

    pairs = [(x, y) for i, x in enumerate(SPANS) for y in SPANS[i + 1:] if overlap(x, y)]
    assert pairs and all(x[0] != y[0] for x, y in pairs)  # tenants ran side by side; one tenant, one at a time


@workflow.defn
async def restarted() -> str:
    return await workflow.execute_activity(quiet, 1.0, task_queue="gpu")


def test_tasks_left_by_an_owner_that_stopped_are_deleted_by_the_next_one(url):
    from stores.url import open_store

    store = open_store(url)
    try:
        with aion.Engine(url, owns_shards=False, activities=[quiet], task_queues=["gpu"]):
            with aion.Engine(url, workflows=[restarted]) as first:
                handle = first.start(restarted, id="restarted")
                wait_for(lambda: any(q.claimed for q in store.queue_stats()), "the worker to claim attempt 1")
            with aion.Engine(url, workflows=[restarted]) as second:
                assert second.get_handle("restarted").result(30) == "quiet"
                # Attempt 1 (cancelled when its owner stopped) and attempt 2 (consumed) are both gone.
                wait_for(lambda: store.read_tasks(range(1, 100)) == [], "every task of the run to be deleted",
                         detail=lambda: store.read_tasks(range(1, 100)))
    finally:
        store.close()


@activity.defn(task_queue="gpu")
def span(i: int) -> int:
    started = time.monotonic()
    time.sleep(0.1)
    SPANS.append(("gpu", started, time.monotonic()))
    return i


@workflow.defn
async def spans(n: int) -> list:
    return await workflow.all([workflow.execute_activity(span, i) for i in range(n)])


def test_worker_concurrency_holds_per_queue_on_an_engine_serving_several(url):
    SPANS.clear()
    queues = [aion.TaskQueue("gpu", worker_concurrency=1), aion.TaskQueue("other", worker_concurrency=8)]
    with aion.Engine(url, workflows=[spans]) as owner, \
            aion.Engine(url, owns_shards=False, activities=[span], task_queues=queues):
        assert owner.start(spans, 4).result(30) == [0, 1, 2, 3]
    assert len(SPANS) == 4
    assert not any(x[1] < y[2] and y[1] < x[2] for i, x in enumerate(SPANS) for y in SPANS[i + 1:])
