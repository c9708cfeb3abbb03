"""Child workflows: record-then-spawn, results recorded in the parent, links on close."""

import pytest

import aion_actors as aion
from aion_actors import activity, workflow
from tests.waiting import wait_for


@activity.defn
def double(x: int) -> int:
    return 2 * x


@workflow.defn
async def child(x: int) -> int:
    return await workflow.execute_activity(double, x)


@workflow.defn
async def failing_child(x: int) -> int:
    raise ValueError(f"bad {x}")


@workflow.defn
async def waiting_child() -> str:
    await workflow.receive("never")
    return "no"


@workflow.defn
async def fan_out(n: int) -> list:
    return await workflow.all([workflow.execute_child(child, i) for i in range(n)])


@workflow.defn
async def parent_of_failure() -> str:
    try:
        await workflow.execute_child(failing_child, 7)
    except aion.WorkflowFailed as err:
        return f"child failed: {err.cause.message}"
    return "no"


@workflow.defn
async def leaves_children(policy: str) -> str:
    workflow.start_child(waiting_child, id=f"kid-{policy}", parent_close_policy=policy)
    await workflow.sleep(0)
    return "parent done"


@workflow.defn
async def pinger(target: str) -> str:
    workflow.signal_external(target, "never", {"hi": 1})
    return "sent"


def eventually_exists(engine, workflow_id):
    def handle():
        try:
            return engine.get_handle(workflow_id)
        except aion.WorkflowNotFound:
            return None

    return wait_for(handle, f"{workflow_id} to be started")


def test_fan_out_and_in(make_engine):
    engine = make_engine([fan_out, child], [double])
    handle = engine.start(fan_out, 4, id="fan")
    assert handle.result(timeout=10) == [0, 2, 4, 6]
    kinds = [e.type_name for e in handle.history()]
    assert kinds.count("ChildWorkflowStarted") == 4 and kinds.count("ChildWorkflowCompleted") == 4
    kid = eventually_exists(engine, "fan/1")
    assert kid.result(timeout=5) == 0
    assert kid.history()[0].event.parent_workflow_id == "fan"


def test_child_failure_reaches_parent(make_engine):
    engine = make_engine([parent_of_failure, failing_child])
    assert engine.start(parent_of_failure).result(timeout=10) == "child failed: bad 7"


@pytest.mark.parametrize("policy, outcome", [("terminate", aion.WorkflowCancelled),
                                             ("request_cancel", aion.WorkflowCancelled),
                                             ("abandon", None)])
def test_parent_close_policy(make_engine, policy, outcome):
    engine = make_engine([leaves_children, waiting_child])
    assert engine.start(leaves_children, policy).result(timeout=10) == "parent done"
    kid = eventually_exists(engine, f"kid-{policy}")  # spawned after it was recorded: may still be starting
    if outcome is None:
        kid.cancel("cleanup")
        with pytest.raises(aion.WorkflowCancelled):
            kid.result(timeout=10)
        # Abandoned: the only stop it ever got is the test's own request, whenever the parent's would have come.
        stops = [e.event for e in kid.history() if e.type_name in ("WorkflowCancelRequested", "WorkflowCancelled")]
        assert [type(e).__name__ for e in stops] == ["WorkflowCancelRequested", "WorkflowCancelled"]
        assert stops[0].reason == "cleanup" and not stops[1].terminated
    else:
        with pytest.raises(outcome):
            kid.result(timeout=10)


def test_signal_external(make_engine):
    engine = make_engine([pinger, waiting_child])
    target = engine.start(waiting_child, id="target")
    assert engine.start(pinger, "target").result(timeout=10) == "sent"
    assert target.result(timeout=10) == "no"
    assert [e.type_name for e in target.history()].count("SignalReceived") == 1
