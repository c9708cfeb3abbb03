"""Scenarios ported from Temporal's samples and SDK tests and from DBOS's tests, each once a bug here."""

import asyncio
import concurrent.futures
import threading
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


def test_application_error_details_reach_the_workflow_and_survive_replay(make_engine):
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


# -- a child id already held by a running child (Temporal: WorkflowAlreadyStartedError) ----------------


@workflow.defn
async def held_child() -> str:
    return await workflow.receive("finish")


@workflow.defn
async def holds_child(child_id: str) -> str:
    return await workflow.execute_child(held_child, id=child_id)


@workflow.defn
async def reuses_child_id(child_id: str) -> str:
    try:
        await workflow.execute_child(held_child, id=child_id)
    except aion.WorkflowAlreadyExists as err:
        return f"already exists: {err.workflow_id}"
    return "attached"


@workflow.defn
async def starts_one_id_twice() -> list:
    first = workflow.start_child(held_child, id="twice-kid")
    try:
        workflow.start_child(held_child, id="twice-kid")
        second = "attached"
    except aion.WorkflowAlreadyExists:
        second = "already exists"
    return [second, await first]


def test_child_id_held_by_another_workflows_child_fails_the_start(make_engine):
    engine = make_engine([held_child, holds_child, reuses_child_id])
    first = engine.start(holds_child, "shared-kid", id="first-parent")
    wait_for(lambda: recorded(first, "ChildWorkflowStarted"), "the first child's start")
    second = engine.start(reuses_child_id, "shared-kid", id="second-parent")
    assert second.result(timeout=60) == "already exists: shared-kid"
    assert recorded(second, "ChildWorkflowStartFailed") == 1
    engine.get_handle("shared-kid").signal("finish", "done")
    assert first.result(timeout=60) == "done"


def test_child_id_of_a_finished_workflow_fails_the_start(make_engine):
    engine = make_engine([held_child, reuses_child_id])
    done = engine.start(held_child, id="finished-kid")
    done.signal("finish", "x")
    done.result(timeout=60)
    assert engine.start(reuses_child_id, "finished-kid", id="late-parent").result(timeout=60) == \
        "already exists: finished-kid"


def test_child_id_started_twice_by_one_run(make_engine):
    engine = make_engine([held_child, starts_one_id_twice])
    parent = engine.start(starts_one_id_twice, id="twice-parent")
    wait_for(lambda: recorded(parent, "ChildWorkflowStarted"), "the child's start")
    wait_for(lambda: _exists(engine, "twice-kid"), "the child")
    engine.get_handle("twice-kid").signal("finish", "ok")
    assert parent.result(timeout=60) == ["already exists", "ok"]
    assert recorded(parent, "ChildWorkflowStarted") == 1


def _exists(engine, workflow_id: str) -> bool:
    try:
        engine.get_handle(workflow_id)
    except aion.WorkflowNotFound:
        return False
    return True


# -- signals at continue-as-new (Temporal's batch_sliding_window sample) -------------------------------


@workflow.defn
async def sliding_window(state: dict) -> int:
    got = state["got"]
    while got < state["want"]:
        await workflow.receive("done")
        got += 1
        if got % 3 == 0 and got < state["want"]:
            workflow.continue_as_new({"got": got, "want": state["want"]})
    return got


def test_signal_at_continue_as_new_reaches_the_next_run(make_engine):
    engine = make_engine([sliding_window])
    handle = engine.start(sliding_window, {"got": 0, "want": 30}, id="window-1")
    with concurrent.futures.ThreadPoolExecutor(8) as pool:  # many in flight: some land mid continue-as-new
        list(pool.map(lambda _: handle.signal("done"), range(30)))
    assert handle.result(timeout=30) == 30


# -- two gather branches of activities, many times (a command lost between a run and its Recorder) -------


@activity.defn
def step(name: str) -> str:
    return name


@workflow.defn
async def two_branches() -> list:
    async def branch(names: list) -> list:
        return [await workflow.execute_activity(step, name) for name in names]

    return list(await asyncio.gather(branch(["activity1", "activity3", "activity5"]),
                                     branch(["activity2", "activity4", "activity6"])))


@pytest.mark.slow
@pytest.mark.parametrize("runtime", ["local"])  # messages between processes may overtake each other
def test_gather_branches_of_activities_never_fail_as_non_deterministic(make_engine):
    engine = make_engine([two_branches], [step])
    expected = [["activity1", "activity3", "activity5"], ["activity2", "activity4", "activity6"]]
    for batch in range(20):
        handles = [engine.start(two_branches, id=f"branches-{batch}-{i}") for i in range(10)]
        for handle in handles:
            assert handle.result(timeout=120) == expected, handle.workflow_id


# -- an attempt that finishes after its engine closed (its outcome once went to a driver set to None) ----


def test_attempt_finishing_after_close_posts_nothing():
    from aion_actors.converter import encode_value
    from aion_actors.definitions import Registry
    from aion_actors.runtime.activities import ActivityRunner
    from aion_actors.runtime.messages import RunAttempt

    release, finished, posted = threading.Event(), threading.Event(), []

    @activity.defn(name="outlives-close")
    def outlives_close() -> str:
        release.wait(30)
        finished.set()
        return "late"

    driver = {"tell": lambda msg: None}  # what Engine.close() sets to None once the runner is shut down

    def post(address, msg):
        posted.append(msg)
        driver["tell"](msg)  # the AttributeError ('NoneType' ... 'tell') once logged at close

    runner = ActivityRunner(Registry(activities=[outlives_close]), post, workers=1)
    runner.submit("attempt-actor", RunAttempt(None, "wf", 1, "outlives-close", encode_value([]), 1))
    runner.shutdown()
    driver["tell"] = None
    release.set()
    assert finished.wait(30)
    runner._pool.shutdown(wait=True)  # the attempt's thread has returned, post included
    assert posted == []


# -- patch memoization (Temporal: test_workflow_patch_memoized) -----------------------------------------


@workflow.defn(name="patch-memoized")
async def memoized_unpatched() -> list:
    workflow.set_query_handler("waiting", lambda: True)
    await workflow.receive("go")
    return []


@workflow.defn(name="patch-memoized")
async def memoized_patched() -> list:
    result = []
    if workflow.patched("my-patch"):
        result.append("pre-patch")
    workflow.set_query_handler("waiting", lambda: True)
    await workflow.receive("go")
    if workflow.patched("my-patch"):
        result.append("post-patch")
    return result


def test_patch_memoized(make_engine):
    engine = make_engine([memoized_unpatched])
    old = engine.start(memoized_unpatched, id="memoized-old")
    assert old.query("waiting") is True  # its code has passed where the patch will be, recording nothing
    engine.close()
    engine = make_engine([memoized_patched])
    new = engine.start(memoized_patched, id="memoized-new")
    for workflow_id in ("memoized-old", "memoized-new"):
        engine.get_handle(workflow_id).signal("go")
    assert engine.get_handle("memoized-old").result(timeout=60) == []
    assert new.result(timeout=60) == ["pre-patch", "post-patch"]
    assert [e.event.name for e in engine.get_handle("memoized-old").history() if e.type_name == "MarkerRecorded"] == []


@workflow.defn
async def starts_held_id_and_leaves(child_id: str) -> str:
    workflow.start_child(held_child, id=child_id)  # linked ("terminate"): its end takes the child down
    return "left"


def test_a_parent_ending_never_takes_down_another_workflows_child_of_the_same_id(make_engine):
    engine = make_engine([held_child, holds_child, starts_held_id_and_leaves])
    first = engine.start(holds_child, "kept-kid", id="keeper")
    wait_for(lambda: _exists(engine, "kept-kid"), "the kept child")
    assert engine.start(starts_held_id_and_leaves, "kept-kid", id="leaver").result(timeout=60) == "left"
    engine.get_handle("kept-kid").signal("finish", "still mine")
    assert first.result(timeout=60) == "still mine"


# -- a signal waiting for room whose target closes meanwhile -----------------------------------------
# A delivery to a non-resident run waits for room; if the run ends meanwhile (another engine on the
# store ran it to its end), the sender's `await workflow.signal_external(...)` must still be answered.


def test_a_signal_waiting_for_room_is_answered_not_running_when_its_target_closed_meanwhile():
    from datetime import datetime, timezone
    from types import SimpleNamespace

    from aion_actors import events as ev
    from aion_actors.converter import encode_value
    from aion_actors.runtime.engine_actor import EngineActor
    from aion_actors.runtime.messages import ClientReply, DeliverToWorkflow
    from aion_actors.cluster.ownership import Ownership
    from aion_actors.runtime.residency import ResidencyBook

    summaries = {"target": SimpleNamespace(workflow_type="t", status="running", closed_at=None)}
    engine = EngineActor()
    sent = []
    engine.send = lambda to, msg: sent.append((to, msg))
    engine.context = SimpleNamespace(store_summary=summaries.get, ownership=Ownership(1, everything=True))
    engine.book = ResidencyBook(max_resident=0, idle_timeout=3600)  # no room: the delivery waits
    corr = ("signal", "the sender's run", 1)
    engine._deliver(DeliverToWorkflow(corr, "target", ev.SignalReceived("hi", encode_value(None)), "sender"))
    assert sent == []
    summaries["target"] = SimpleNamespace(workflow_type="t", status="completed",
                                          closed_at=datetime.now(timezone.utc))
    engine.book.max_resident = 1  # room: the target's admission runs, and finds it closed
    engine._admit_queued()
    [(to, reply)] = sent
    assert to == "sender" and isinstance(reply, ClientReply) and reply.corr == corr and not reply.ok
    assert isinstance(reply.value, aion.NotRunning) and reply.value.status == "completed"
