"""Scenarios ported from Temporal's samples and SDK tests and from DBOS's tests, each once a bug here."""

import time

import pytest

import aion_actors as aion
from aion_actors import activity, workflow


def wait_for(predicate, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def recorded(handle, type_name: str) -> int:
    return sum(e.type_name == type_name for e in handle.history())


# -- ApplicationError details (Temporal: test_workflow_activity_failure details) ----------------------


@activity.defn
def refuse_with_details() -> None:
    raise aion.ApplicationError("refused", "detail1", 123, non_retryable=True)


@workflow.defn
async def catches_details() -> list:
    try:
        await workflow.execute_activity(refuse_with_details)
    except aion.ActivityError as err:
        seen = list(err.details)
    await workflow.receive("go")  # the engine closes here; the reopened one replays the failure
    return seen


@workflow.defn
async def fails_with_details() -> None:
    raise aion.ApplicationError("bad order", {"id": 7}, [1, 2])


def test_application_error_details_reach_the_workflow_and_survive_replay(make_engine, store_url):
    engine = make_engine([catches_details], [refuse_with_details])
    handle = engine.start(catches_details, id="details-1")
    wait_for(lambda: recorded(handle, "ActivityFailed"), "the activity's failure")
    engine.close()
    engine = make_engine([catches_details], [refuse_with_details])
    engine.get_handle("details-1").signal("go")
    assert engine.get_handle("details-1").result(timeout=60) == ["detail1", 123]


def test_application_error_details_of_a_failed_workflow(make_engine):
    engine = make_engine([fails_with_details])
    with pytest.raises(aion.WorkflowFailed) as failed:
        engine.start(fails_with_details, id="details-2").result(timeout=60)
    assert failed.value.details == ({"id": 7}, [1, 2])


def test_application_error_refuses_details_it_cannot_encode():
    with pytest.raises(aion.PayloadError):
        aion.ApplicationError("bad", object())


# -- signal_external to a workflow that does not exist (Temporal, DBOS: the send fails) ----------


@workflow.defn
async def signals_nobody() -> str:
    try:
        await workflow.signal_external("nobody-here", "hello", 1)
    except aion.WorkflowNotFound as err:
        outcome = f"not found: {err.workflow_id}"
    await workflow.receive("go")  # the engine closes here; the reopened one replays the failure
    return outcome


@workflow.defn
async def listener() -> int:
    return await workflow.receive("hello")


@workflow.defn
async def signals_listener(target: str) -> str:
    await workflow.signal_external(target, "hello", 41)
    return "delivered"


def test_signal_external_to_a_missing_workflow_fails_the_send_and_replays(make_engine):
    engine = make_engine([signals_nobody])
    handle = engine.start(signals_nobody, id="sender-1")
    wait_for(lambda: recorded(handle, "ExternalSignalFailed"), "the failed send")
    engine.close()
    engine = make_engine([signals_nobody])
    engine.get_handle("sender-1").signal("go")
    assert engine.get_handle("sender-1").result(timeout=60) == "not found: nobody-here"
    assert recorded(engine.get_handle("sender-1"), "ExternalSignalFailed") == 1


def test_signal_external_to_a_running_workflow_is_delivered(make_engine):
    engine = make_engine([listener, signals_listener])
    target = engine.start(listener, id="listener-1")
    assert engine.start(signals_listener, "listener-1", id="sender-2").result(timeout=60) == "delivered"
    assert target.result(timeout=60) == 41


def test_signal_external_to_a_finished_workflow_fails_the_send(make_engine):
    engine = make_engine([listener, signals_listener])
    target = engine.start(listener, id="listener-2")
    target.signal("hello", 1)
    target.result(timeout=60)
    with pytest.raises(aion.WorkflowFailed, match="NotRunning"):
        engine.start(signals_listener, "listener-2", id="sender-3").result(timeout=60)
