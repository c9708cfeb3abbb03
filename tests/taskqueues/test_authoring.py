"""Declaring task queues: mistakes fail where they are made, with a typed error."""

from __future__ import annotations

import pytest

import aion_actors as aion
from aion_actors import activity, workflow


@pytest.mark.parametrize("name", ["", " gpu", 3, "x" * 201])
def test_a_bad_queue_name_fails_at_the_decorator(name):
    with pytest.raises(aion.InvalidArgument, match="task queue name"):
        @activity.defn(task_queue=name)
        def f() -> None: ...


@pytest.mark.parametrize("kwargs, match", [
    ({"concurrency": 0}, "concurrency"), ({"worker_concurrency": 1.5}, "worker_concurrency"),
    ({"rate_limit": True}, "rate_limit"), ({"rate_period": 0}, "rate_period"), ({"partitioned": 1}, "partitioned")])
def test_a_bad_queue_limit_is_refused(kwargs, match):
    with pytest.raises(aion.InvalidArgument, match=match):
        aion.TaskQueue("gpu", **kwargs)


def test_engine_task_queues_are_checked_before_anything_opens(tmp_path):
    with pytest.raises(aion.InvalidArgument, match="twice"):
        aion.Engine(f"sqlite:///{tmp_path}/a.db", task_queues=["gpu", aion.TaskQueue("gpu")])
    with pytest.raises(aion.InvalidArgument, match="task queue name"):
        aion.Engine(f"sqlite:///{tmp_path}/a.db", task_queues=[""])
    with pytest.raises(aion.InvalidArgument, match="task_lease"):
        aion.Engine(f"sqlite:///{tmp_path}/a.db", task_queues=["gpu"], task_lease=0)


@activity.defn
def plain(x: int) -> int:
    return x


@workflow.defn
async def bad_priority() -> int:
    return await workflow.execute_activity(plain, 1, task_queue="gpu", priority="high")


@workflow.defn
async def priority_without_queue() -> int:
    return await workflow.execute_activity(plain, 1, priority=3)


@workflow.defn
async def local_wins() -> int:
    return await workflow.execute_activity(plain, 41) + 1


@pytest.mark.parametrize("wf, match", [(bad_priority, "priority must be an int"),
                                       (priority_without_queue, "apply to an activity on a task queue")])
def test_bad_call_options_fail_the_workflow_with_the_reason(tmp_path, wf, match):
    with aion.Engine(f"sqlite:///{tmp_path}/a.db", workflows=[wf], activities=[plain]) as engine:
        with pytest.raises(aion.WorkflowFailed, match=match) as failed:
            engine.start(wf).result(30)
        assert failed.value.cause.type == "InvalidArgument"


def test_an_activity_on_no_queue_records_no_placement(tmp_path):
    from aion_actors import events as ev

    with aion.Engine(f"sqlite:///{tmp_path}/a.db", workflows=[local_wins], activities=[plain]) as engine:
        handle = engine.start(local_wins)
        assert handle.result(30) == 42
        scheduled = next(e.event for e in handle.history() if isinstance(e.event, ev.ActivityScheduled))
        assert "task_queue" not in scheduled.options  # histories of the default path are as before
