"""handle.terminate(): the run ends at once, with no cleanup; what it started is stopped."""

import time

import pytest

import aion_actors as aion
from aion_actors import activity, workflow
from aion_actors.replayer import replay
from tests.engine.conftest import record_effect
from tests.waiting import wait_for


@activity.defn
def long_job(name: str) -> str:
    record_effect(f"{name} started")
    while not activity.is_cancelled():
        time.sleep(0.02)
    record_effect(f"{name} told to stop")
    return name


@activity.defn
def clean_up(name: str) -> str:
    record_effect(f"cleanup {name}")
    return name


@workflow.defn
async def sleeper(name: str) -> str:
    await workflow.receive("never")
    return name


@workflow.defn
async def guarded(name: str) -> str:
    child = workflow.start_child(sleeper, name, id=f"{name}-child")
    try:
        return await workflow.execute_activity(long_job, name)
    finally:
        await workflow.execute_activity(clean_up, name)   # cancel() would run this; terminate() does not
        await child


def test_terminate_ends_the_run_at_once_and_stops_what_it_started(make_engine, effects):
    engine = make_engine([guarded, sleeper], [long_job, clean_up])
    handle = engine.start(guarded, "t", id="t")
    wait_for(lambda: effects.count("t started") == 1, "the activity to start")
    handle.terminate("stuck")
    with pytest.raises(aion.WorkflowCancelled) as raised:
        handle.result(timeout=30)
    assert raised.value.terminated
    last = handle.history()[-1]
    assert last.type_name == "WorkflowCancelled" and last.event.terminated and last.event.reason == "stuck"
    wait_for(lambda: effects.count("t told to stop") == 1, "the running attempt to be told to stop")

    def child_cancelled() -> bool:
        try:   # between processes the terminate may overtake the child's spawn: it is cancelled anyway
            return engine.get_handle("t-child").describe().status is aion.WorkflowStatus.CANCELLED
        except aion.WorkflowNotFound:
            return False

    wait_for(child_cancelled, "the linked child to be cancelled")
    assert effects.count("cleanup t") == 0           # no except/finally code ran
    kinds = [e.type_name for e in handle.history()]
    assert "ActivityCompleted" not in kinds and kinds.count("WorkflowCancelled") == 1
    with pytest.raises(aion.NotRunning):
        handle.terminate("again")                    # nothing more is recorded
    assert len(handle.history()) == len(kinds)


def test_terminate_refuses_unknown_ids_and_bad_reasons(make_engine):
    engine = make_engine([sleeper])
    with pytest.raises(aion.WorkflowNotFound):
        engine.get_handle("nope").terminate()
    handle = engine.start(sleeper, "x", id="x")
    with pytest.raises(aion.InvalidArgument):
        handle.terminate(reason=42)
    assert handle.describe().status is aion.WorkflowStatus.RUNNING


def test_a_terminated_history_replays(make_engine):
    engine = make_engine([sleeper])
    handle = engine.start(sleeper, "r", id="r")
    handle.terminate()
    with pytest.raises(aion.WorkflowCancelled):
        handle.result(timeout=30)
    replay(handle.history(), sleeper)   # the terminate is outside the code: replay accepts it
