"""Workflows that write the events the examples never write, for the checked-in histories.

The examples (examples/01..08) cover the everyday events; these cover the
rest of the catalog in `aion_actors.events`: a failing run, a cancelled one
with cleanup, a terminated one, continue-as-new, pause and resume, a
cancelled activity, signals to other workflows (delivered, and to nobody),
a child that fails, one that is cancelled, and one whose id is taken.
`record.py` drives them; `test_histories.py` replays what they recorded. Change them like any workflow with running
instances: a change that no longer replays their histories is the failure
the test exists to catch.
"""

import time

import aion_actors as aion
from aion_actors import activity, workflow


@activity.defn
def note(text: str) -> str:
    return f"noted: {text}"


@activity.defn
def wait_until_cancelled(limit: float) -> str:
    """Works until told to stop; `limit` only bounds a run in which the stop never comes."""
    deadline = time.monotonic() + limit
    while not activity.is_cancelled() and time.monotonic() < deadline:
        time.sleep(0.01)
    return "stopped" if activity.is_cancelled() else "gave up waiting"


@workflow.defn
async def rejects(order: dict) -> str:
    """Fails: writes WorkflowFailed."""
    await workflow.execute_activity(note, f"checking {order['id']}")
    raise ValueError(f"order {order['id']} has no items")


@workflow.defn
async def cleans_up(job: str) -> str:
    """Cancelled while waiting; runs a cleanup activity: WorkflowCancelRequested, then WorkflowCancelled."""
    try:
        await workflow.receive("go")
    except aion.CancelledError:
        await workflow.execute_activity(note, f"cleaned up {job}")
        raise
    return "went"


@workflow.defn
async def waits_for_go(job: str) -> str:
    """Waits for one "go" signal; terminated, or paused and resumed, by record.py."""
    go = await workflow.receive("go")
    return await workflow.execute_activity(note, f"{job} went: {go}")


@workflow.defn
async def counts_up(n: int) -> int:
    """Continues as new twice: WorkflowContinuedAsNew between three runs."""
    if n < 3:
        workflow.continue_as_new(n + 1)
    return n


@workflow.defn
async def gives_up_on_slow_work(limit: float) -> str:
    """A deadline cancels a running activity: ActivityCancelled."""
    try:
        return await workflow.with_timeout(0.2, workflow.execute_activity(wait_until_cancelled, limit))
    except TimeoutError:
        return "deadline passed"


@workflow.defn
async def tells_another(target: str) -> str:
    """Signals another workflow: SignalSent."""
    workflow.signal_external(target, "go", "from tells_another")
    return f"told {target}"


@workflow.defn
async def child_fails() -> str:
    """Raises: its parent records ChildWorkflowFailed."""
    raise ValueError("the child has nothing to do")


@workflow.defn
async def watches_children(job: str) -> dict:
    """One child fails, one is cancelled from outside: ChildWorkflowFailed and ChildWorkflowCancelled."""
    outcomes = {}
    try:
        await workflow.execute_child(child_fails)
    except aion.WorkflowFailed as exc:
        outcomes["failed"] = exc.cause.message
    try:
        await workflow.execute_child(cleans_up, job, id=f"{workflow.info().workflow_id}/cancelled")
    except aion.WorkflowCancelled:
        outcomes["cancelled"] = True
    return outcomes


@workflow.defn
async def tells_another_and_waits(target: str) -> str:
    """Signals another workflow and awaits the send: SignalSent, then ExternalSignalDelivered."""
    await workflow.signal_external(target, "go", "from tells_another_and_waits")
    return f"{target} got it"


@workflow.defn
async def signals_nobody(target: str) -> str:
    """Signals a workflow that does not exist and awaits the send: SignalSent, then ExternalSignalFailed."""
    try:
        await workflow.signal_external(target, "go", "anyone there?")
    except aion.WorkflowNotFound:
        return f"{target} does not exist"
    return f"told {target}"


@workflow.defn
async def takes_a_held_id(held: str) -> str:
    """Starts a child under an id another workflow holds: ChildWorkflowStartFailed."""
    try:
        await workflow.execute_child(child_fails, id=held)
    except aion.WorkflowAlreadyExists:
        return f"{held} is taken"
    return "started"


WORKFLOWS = [rejects, cleans_up, waits_for_go, counts_up, gives_up_on_slow_work, tells_another, child_fails,
             watches_children, tells_another_and_waits, signals_nobody, takes_a_held_id]
ACTIVITIES = [note, wait_until_cancelled]
