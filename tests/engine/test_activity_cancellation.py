"""Cancellation reaches running activity code: workflow cancel, race losers, expired scopes, a kill past the grace."""

import asyncio
import os
import time

import pytest

import aion_actors as aion
from aion_actors import activity, workflow

from tests.engine.conftest import record_effect as bump
from tests.engine.test_activity_timeouts import events_of
from tests.waiting import wait_for


@activity.defn
def patient(name: str) -> str:
    bump(f"{name} started")
    try:
        while True:
            activity.heartbeat(None)
            time.sleep(0.02)
    except aion.ActivityCancelled:
        bump(f"{name} cancelled={activity.is_cancelled()}")
        raise


@activity.defn
async def patient_async(name: str) -> str:
    bump(f"{name} started")
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        bump(f"{name} cancelled={activity.is_cancelled()}")
        raise
    return "slept"


@activity.defn
def cleanup(name: str) -> str:
    bump(f"{name} cleanup")
    return "cleaned"


@activity.defn
def stubborn(name: str) -> None:
    bump(f"{name} pid {os.getpid()}")
    while True:  # never looks at cancellation
        time.sleep(0.05)


@workflow.defn
async def waits_then_cleans_up(args: list) -> str:
    kind, name = args
    try:
        return await workflow.execute_activity(patient if kind == "sync" else patient_async, name)
    except aion.CancelledError:
        return await workflow.execute_activity(cleanup, name)


@workflow.defn
async def race_loser(name: str) -> str:
    winner = await workflow.race([workflow.execute_activity(patient, name), workflow.receive("go")])
    await workflow.receive("finish")
    return f"signal won: {winner}"


@workflow.defn
async def scope_expires(name: str) -> str:
    try:
        await workflow.with_timeout(0.5, workflow.execute_activity(patient_async, name))
    except TimeoutError:
        return "timed out"
    return "finished"


@workflow.defn
async def loses_to_stubborn(name: str) -> str:
    await workflow.race([workflow.execute_activity(stubborn, name), workflow.receive("go")])
    await workflow.receive("finish")
    return "done"


@activity.defn
def cleans_up_slowly(name: str) -> None:
    bump(f"{name} started")
    while not activity.is_cancelled():
        time.sleep(0.02)
    time.sleep(0.3)  # cleanup work: far longer than a run takes to exit, far shorter than the grace
    bump(f"{name} cleaned up")


@workflow.defn
async def ends_with_an_attempt_running(name: str) -> str:
    workflow.execute_activity(cleans_up_slowly, name)  # scheduled, never awaited
    await workflow.receive("finish")
    return "done"


ACTIVITIES = [patient, patient_async, cleanup, stubborn, cleans_up_slowly]


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_cancelling_the_workflow_cancels_the_running_activity_and_cleanup_still_runs(make_engine, effects, kind):
    engine = make_engine([waits_then_cleans_up], ACTIVITIES)
    handle = engine.start(waits_then_cleans_up, [kind, kind])
    wait_for(lambda: effects.count(f"{kind} started") == 1, "the activity to start")
    handle.cancel("the user changed their mind")
    assert handle.result(timeout=30) == "cleaned"
    wait_for(lambda: effects.count(f"{kind} cancelled=True") == 1, "the activity code to see its cancellation")
    (cancelled,) = events_of(handle, "ActivityCancelled")
    assert cancelled.activity_id == 1
    assert [e.activity_id for e in events_of(handle, "ActivityCompleted")] == [2]  # only the cleanup
    assert events_of(handle, "ActivityFailed") == []
    assert effects.count(f"{kind} cleanup") == 1


def test_a_race_loser_is_cancelled_and_its_end_records_nothing(make_engine, effects):
    engine = make_engine([race_loser], ACTIVITIES)
    handle = engine.start(race_loser, "loser")
    wait_for(lambda: effects.count("loser started") == 1, "the activity to start")
    handle.signal("go", "now")
    wait_for(lambda: effects.count("loser cancelled=True") == 1, "the loser to see its cancellation")
    handle.signal("finish")
    assert handle.result(timeout=30) == "signal won: now"
    assert len(events_of(handle, "ActivityCancelled")) == 1
    assert events_of(handle, "ActivityFailed") == [] and events_of(handle, "ActivityCompleted") == []


def test_an_expired_with_timeout_scope_cancels_its_async_activity(make_engine, effects):
    engine = make_engine([scope_expires], ACTIVITIES)
    handle = engine.start(scope_expires, "scoped")
    assert handle.result(timeout=30) == "timed out"
    wait_for(lambda: effects.count("scoped cancelled=True") == 1, "the activity task to be cancelled")
    assert len(events_of(handle, "ActivityCancelled")) == 1


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def test_an_attempt_its_run_left_running_gets_the_grace_to_clean_up_after_the_run_ends(make_engine, effects):
    # The ended run tells the attempt to stop, then its actor exits at once, taking the attempt's
    # actor along: on "local" that used to kill the attempt's process before the code saw the request.
    engine = make_engine([ends_with_an_attempt_running], ACTIVITIES)
    handle = engine.start(ends_with_an_attempt_running, "left")
    wait_for(lambda: effects.count("left started") == 1, "the attempt to start")
    handle.signal("finish")
    assert handle.result(timeout=30) == "done"
    wait_for(lambda: effects.count("left cleaned up") == 1, "the attempt to finish its cleanup")
    assert events_of(handle, "ActivityCompleted") == [] and events_of(handle, "ActivityFailed") == []


def test_an_attempt_that_ignores_cancellation_is_killed_after_the_grace(store_url, effects):
    engine = aion.Engine(store=store_url, runtime="local", workflows=[loses_to_stubborn], activities=ACTIVITIES,
                         activity_cancel_grace=0.5).open()
    try:
        handle = engine.start(loses_to_stubborn, "stubborn")
        wait_for(lambda: effects.all(), "the activity to start")
        pid = int(effects.all()[0].split()[-1])
        assert alive(pid)
        handle.signal("go")
        wait_for(lambda: not alive(pid), "the stubborn attempt's process to be killed")
        assert engine.get_handle(handle.workflow_id).describe().status == aion.WorkflowStatus.RUNNING
        handle.signal("finish")
        assert handle.result(timeout=30) == "done"
        assert len(events_of(handle, "ActivityCancelled")) == 1 and events_of(handle, "ActivityFailed") == []
    finally:
        engine.close()


def test_the_grace_is_validated():
    with pytest.raises(aion.InvalidArgument):
        aion.Engine(store="memory:", activity_cancel_grace=-1)


def test_activity_cancelled_cannot_be_swallowed_by_except_exception():
    assert issubclass(aion.ActivityCancelled, aion.CancelledError)
    assert not issubclass(aion.ActivityCancelled, Exception)


def note(path: str, line: str) -> None:
    """Workers come from a forkserver started by whichever test came first: its environment is not ours."""
    with open(path, "a") as f:
        f.write(line + "\n")


@activity.defn(executor="process")
def patient_in_a_worker(name: str, path: str) -> str:
    note(path, f"{name} started pid {os.getpid()}")
    try:
        while True:
            activity.heartbeat(None)
            time.sleep(0.02)
    except aion.ActivityCancelled:
        note(path, f"{name} cancelled={activity.is_cancelled()}")
        raise


@activity.defn(executor="process")
def stubborn_in_a_worker(name: str, path: str) -> None:
    note(path, f"{name} pid {os.getpid()}")
    while True:
        time.sleep(0.05)


@workflow.defn
async def loses_to_a_signal(args: list) -> str:
    kind, name, path = args
    fn = patient_in_a_worker if kind == "patient" else stubborn_in_a_worker
    await workflow.race([workflow.execute_activity(fn, name, path), workflow.receive("go")])
    await workflow.receive("finish")
    return "done"


def test_a_process_executor_attempt_sees_its_cancellation_at_heartbeat(make_engine, effects):
    engine = make_engine([loses_to_a_signal], [patient_in_a_worker])
    handle = engine.start(loses_to_a_signal, ["patient", "worker", str(effects.path)])
    wait_for(lambda: effects.all(), "the activity to start", timeout=60)
    handle.signal("go")
    wait_for(lambda: effects.count("worker cancelled=True") == 1, "the worker to see its cancellation")
    handle.signal("finish")
    assert handle.result(timeout=30) == "done"
    assert len(events_of(handle, "ActivityCancelled")) == 1


def test_a_process_executor_attempt_that_ignores_cancellation_is_killed_after_the_grace(store_url, effects):
    engine = aion.Engine(store=store_url, workflows=[loses_to_a_signal], activities=[stubborn_in_a_worker],
                         activity_cancel_grace=0.5).open()
    try:
        handle = engine.start(loses_to_a_signal, ["stubborn", "worker", str(effects.path)])
        wait_for(lambda: effects.all(), "the activity to start", timeout=60)
        pid = int(effects.all()[0].split()[-1])
        assert alive(pid) and pid != os.getpid()
        handle.signal("go")
        wait_for(lambda: not alive(pid), "the stubborn worker process to be killed")
        handle.signal("finish")
        assert handle.result(timeout=30) == "done"
        assert events_of(handle, "ActivityFailed") == []
    finally:
        engine.close()
