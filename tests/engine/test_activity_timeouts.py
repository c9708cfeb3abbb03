"""Activity timeouts, enforced by the engine as durable timers: start_to_close, schedule_to_close, heartbeat."""

import time

import pytest

import aion_actors as aion
from aion_actors import activity, workflow

from tests.engine.conftest import record_effect as bump
from tests.waiting import wait_for


def hang_until_cancelled(name: str) -> None:
    while not activity.is_cancelled():
        time.sleep(0.02)
    bump(f"{name} {activity.info().attempt} told to stop")


@activity.defn
def hangs_first(name: str) -> int:
    attempt = activity.info().attempt
    bump(f"{name} {attempt}")
    if attempt == 1:
        hang_until_cancelled(name)
        return -1  # a late result: never recorded
    return attempt


@activity.defn
def always_down(name: str) -> None:
    bump(name)
    raise ConnectionError("the service is down")


@activity.defn
def hangs(name: str) -> None:
    bump(f"{name} {activity.info().attempt}")
    hang_until_cancelled(name)


@activity.defn
def beats_for(seconds: float) -> int:
    calls = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        activity.heartbeat({"calls": calls})
        calls += 1
        time.sleep(0.05)
    return calls


FAST_RETRY = aion.RetryPolicy(initial_interval=0.01, max_attempts=3)


@workflow.defn
async def start_to_close(name: str) -> int:
    return await workflow.execute_activity(hangs_first, name, start_to_close_timeout=1.5, retry=FAST_RETRY)


@workflow.defn
async def schedule_to_close(name: str) -> str:
    try:
        await workflow.execute_activity(always_down, name, schedule_to_close_timeout=1.0,
                                        retry=aion.RetryPolicy(initial_interval=0.2, backoff=1.0))
    except aion.ActivityError as err:
        return f"{err.cause.type}: {err.cause.message}"
    return "no error"


@workflow.defn
async def heartbeats(name: str) -> list:
    silent = await workflow.execute_activity(hangs_first, name, heartbeat_timeout=1.0, retry=FAST_RETRY)
    calls = await workflow.execute_activity(beats_for, 3.0, heartbeat_timeout=1.0)
    return [silent, calls > 10]


@workflow.defn
async def bounded(name: str) -> str:
    try:
        await workflow.execute_activity(hangs, name, schedule_to_close_timeout=2.0)
    except aion.ActivityError as err:
        return err.cause.message
    return "no error"


def events_of(handle, type_name: str) -> list:
    return [e.event for e in handle.history() if e.type_name == type_name]


def test_start_to_close_fails_the_attempt_and_the_retry_succeeds(make_engine, effects):
    engine = make_engine([start_to_close], [hangs_first])
    handle = engine.start(start_to_close, "stc")
    assert handle.result(timeout=30) == 2
    (failed,) = events_of(handle, "ActivityFailed")
    assert (failed.attempt, failed.kind, failed.failure.type) == (1, "retryable", "ActivityTimeout")
    assert failed.failure.message == "start_to_close timeout of 1.5s exceeded (attempt 1)"
    assert [e.attempt for e in events_of(handle, "ActivityStarted")] == [1, 2]
    assert [e.attempt for e in events_of(handle, "ActivityCompleted")] == [2]
    wait_for(lambda: effects.count("stc 1 told to stop") == 1, "the timed-out attempt to be told to stop")
    assert handle.describe().pending_timers == ()
    # An attempt's deadline lives in the timer wheel only: the history records just the timeout.
    assert not [e for e in handle.history() if e.type_name.startswith("Timer") and "start_to_close" in e.event.timer_id]


def test_schedule_to_close_stops_the_retries_and_the_workflow_sees_the_timeout(make_engine, effects):
    engine = make_engine([schedule_to_close], [always_down])
    handle = engine.start(schedule_to_close, "s2c")
    assert handle.result(timeout=30) == "ActivityTimeout: schedule_to_close timeout of 1.0s exceeded"
    failed = events_of(handle, "ActivityFailed")
    assert failed[-1].kind == "terminal" and failed[-1].failure.type == "ActivityTimeout"
    assert all(f.kind == "retryable" and f.failure.type == "ConnectionError" for f in failed[:-1])
    started = events_of(handle, "ActivityStarted")
    assert len(started) >= 2
    # No attempt after the deadline (the last one may be cut off before its code ran). Once the
    # engine is closed, no attempt of it runs or records anything more: what is there is final.
    engine.close()
    handle = make_engine([schedule_to_close], [always_down]).get_handle(handle.workflow_id)
    assert effects.count("s2c") <= len(started) == len(events_of(handle, "ActivityStarted"))
    assert handle.describe().pending_timers == ()


def test_heartbeat_timeout_fails_a_silent_attempt_but_not_a_heartbeating_one(make_engine, effects):
    engine = make_engine([heartbeats], [hangs_first, beats_for])
    handle = engine.start(heartbeats, "hb")
    assert handle.result(timeout=30) == [2, True]
    (failed,) = events_of(handle, "ActivityFailed")
    assert (failed.activity_id, failed.attempt, failed.failure.type) == (1, 1, "ActivityTimeout")
    assert "heartbeat_timeout of 1.0s" in failed.failure.message
    wait_for(lambda: effects.count("hb 1 told to stop") == 1, "the silent attempt to be told to stop")
    # The beating activity ran three times its timeout: its deadline moved in the wheel, not in the history.
    assert not [e for e in events_of(handle, "TimerStarted") if e.timer_id.startswith("engine:heartbeat:")]
    assert len([e for e in events_of(handle, "ActivityHeartbeat") if e.activity_id == 2]) <= 6


@pytest.mark.parametrize("bad", [0, -1.0, "5", True, float("nan"), float("inf")])
def test_bad_timeouts_are_refused_before_anything_is_recorded(make_engine, bad):
    @workflow.defn(name="bad_timeout")
    async def bad_timeout() -> str:
        try:
            await workflow.execute_activity(hangs, "never", start_to_close_timeout=bad)
        except aion.InvalidArgument as err:
            return str(err)
        return "accepted"

    engine = make_engine([bad_timeout], [hangs])
    handle = engine.start(bad_timeout)
    assert "start_to_close_timeout must be a positive, finite number" in handle.result(timeout=30)
    assert events_of(handle, "ActivityScheduled") == []


def test_a_timeout_survives_an_engine_restart(make_engine, effects):
    engine = make_engine([bounded], [hangs])
    handle = engine.start(bounded, "restart")
    wait_for(lambda: effects.count("restart 1") == 1, "the first attempt to start")
    engine.close()
    reopened = make_engine([bounded], [hangs])
    result = reopened.get_handle(handle.workflow_id).result(timeout=30)
    assert result == "schedule_to_close timeout of 2.0s exceeded"
    history = reopened.get_handle(handle.workflow_id)
    # The attempt cut off by the restart ran again; the deadline is the one recorded before it.
    assert [e.attempt for e in events_of(history, "ActivityStarted")] == [1, 2]
    deadline = "engine:schedule_to_close:1"
    assert [e.timer_id for e in events_of(history, "TimerStarted")].count(deadline) == 1
    assert [e.timer_id for e in events_of(history, "TimerFired")] == [deadline]


@workflow.defn
async def hand_over(generation: int) -> str:
    if generation == 1:
        workflow.execute_activity(hangs, "left behind")   # scheduled, never awaited
        await workflow.sleep(0.2)
        workflow.continue_as_new(2)
    return "second run"


def test_continuing_as_new_stops_the_attempts_the_last_run_left_running(make_engine, effects):
    engine = make_engine([hand_over], [hangs])
    handle = engine.start(hand_over, 1)
    assert handle.result(timeout=30) == "second run"
    wait_for(lambda: effects.count("left behind 1 told to stop") == 1, "the left-behind attempt to be told to stop")


@activity.defn
def runs_once(name: str) -> str:
    bump(name)
    return name


@workflow.defn
async def hands_over_at_once(name: str) -> str:
    if not name.endswith("next"):
        workflow.execute_activity(runs_once, f"{name} last")  # recorded with the hand-over: never runs
        workflow.continue_as_new(f"{name} next")
    return await workflow.execute_activity(runs_once, name)  # activity 1 of the next run, as above


def test_the_next_run_dispatches_its_activity_once_when_the_last_one_handed_over_in_the_same_commit(
        make_engine, effects):
    # The next run applies its own records before the hand-over's commit arrives; acting on
    # that commit used to dispatch the next run's activity 1 as if it were the last run's.
    engine = make_engine([hands_over_at_once], [runs_once])
    handles = [engine.start(hands_over_at_once, f"w{i}") for i in range(10)]
    assert [h.result(timeout=30) for h in handles] == [f"w{i} next" for i in range(10)]
    engine.close()  # every attempt it dispatched has run or been stopped
    assert sorted(effects.all()) == sorted(f"w{i} next" for i in range(10))
