"""The API for workflow code.

A workflow is an `async def` decorated with `@workflow.defn`. Its code runs
on the engine's deterministic loop and is *replayed* from the event history
whenever its actor is rebuilt (after a crash, a restart or passivation).
Replay re-runs the code from the start; every function below answers from
history instead of acting again. So workflow code must be deterministic:

- no I/O, clocks, threads or global randomness: use activities for side
  effects, `now()`, `random()` and `uuid4()` for time and randomness;
- plain asyncio works and replays: `asyncio.gather`, `create_task`,
  `wait_for`, `Event`, `Queue`; `asyncio.sleep` is a durable timer.

Each function says what it records and what replay does.
"""

from __future__ import annotations

import asyncio
import math
from datetime import datetime
from typing import Any, Awaitable, Callable, Iterable

from . import converter
from ._loop import WorkflowLoop
from .definitions import activity_definition, decorator, define_workflow, workflow_definition
from .errors import AionError, CancelledError, InvalidArgument
from .ids import check_workflow_id
from .instance import ContinueAsNewRequest, WorkflowInfo, WorkflowInstance
from .retry import RetryPolicy
from .task_queue import check_partition_key, check_priority, check_queue_name

__all__ = [
    "defn", "execute_activity", "sleep", "receive", "set_query_handler", "all", "race", "start_child",
    "execute_child", "signal_external", "ChildHandle", "start_timer", "Timer", "with_timeout", "all_settled",
    "now", "random", "uuid4", "info", "continue_as_new", "patched", "deprecate_patch", "WorkflowInfo",
]


def defn(fn: Callable[..., Any] | None = None, *, name: str | None = None):
    """Declare an `async def` as a workflow, named `name` or its function name."""
    return decorator(define_workflow, fn, name)


def _instance() -> WorkflowInstance:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    if not isinstance(loop, WorkflowLoop):
        raise AionError("this aion_actors.workflow function can only be called from workflow code "
                        "running in an engine")
    return loop.instance


def execute_activity(activity: Callable[..., Any] | str, *args: Any, retry: RetryPolicy | None = None,
                     start_to_close_timeout: float | None = None,
                     schedule_to_close_timeout: float | None = None,
                     heartbeat_timeout: float | None = None, task_queue: str | None = None,
                     priority: int = 0, partition_key: str | None = None) -> Awaitable[Any]:
    """Run an activity and return an awaitable of its result.

    Records `ActivityScheduled` (with the encoded arguments and options) as
    soon as the workflow next waits; then each attempt records
    `ActivityStarted` and its outcome. On replay the recorded result is
    returned and the activity is not run again. A failure for good (retries
    exhausted, non-retryable, or schedule_to_close exceeded) raises
    `ActivityError` at the await, with the last attempt's failure as
    `.cause`. Arguments that cannot be encoded raise `PayloadError`, and a
    bad option `InvalidArgument`, here, before anything is recorded.

    Args:
        retry: how failed attempts are retried (`RetryPolicy`); without it, one attempt.
        start_to_close_timeout: seconds one attempt may run. Past it the attempt
            fails with `Failure.type == "ActivityTimeout"` (retryable: the policy
            decides) and is told to stop.
        schedule_to_close_timeout: seconds for the whole activity, every attempt and
            backoff included. Past it the activity fails for good with an
            "ActivityTimeout" cause, whatever the retry policy says.
        heartbeat_timeout: seconds an attempt may go without `activity.heartbeat()`
            before it fails as retryable with an "ActivityTimeout" (heartbeat at
            least every half of it; the throttle is sized so that is enough).
        task_queue: run each attempt on an engine serving this queue instead of
            here (overrides `@activity.defn(task_queue=...)`); recorded with the
            options, so replay and failover put retries on the same queue. An
            attempt waits, without error, until an engine serves the queue.
        priority: on a task queue, higher is claimed first (then older).
        partition_key: on a task queue, the partition whose limits apply (a
            customer, a tenant) when the queue is `partitioned`.

    `schedule_to_close_timeout` (like a retry's backoff) is a durable engine
    timer in the history: it survives crashes, restarts and passivation.
    `start_to_close_timeout` and `heartbeat_timeout` belong to one attempt and
    are only deadlines in the engine's timer wheel, nothing recorded: an
    attempt that outlives its engine runs again as the next attempt, with
    fresh deadlines, and a heartbeat moves its deadline. Only a timeout that
    ends an attempt is recorded, as that attempt's `ActivityFailed`. Cancelling the awaitable (a lost `race`, an expired
    `with_timeout`, the workflow's cancellation) records `ActivityCancelled`
    and raises `aion_actors.ActivityCancelled` at the running attempt's next
    heartbeat (see `aion_actors.activity`); whatever the attempt returns
    afterwards is not recorded.
    """
    inst = _instance()
    if isinstance(activity, str):
        # By name: the queue it was declared with, if this engine has it (a worker-only activity may
        # not be registered with its workflow's owner: then give task_queue= in the call).
        definition = inst.registry.activity(activity) if inst.registry else None
        name, declared_queue = activity, definition.task_queue if definition else None
    else:
        definition = activity_definition(activity)
        name, declared_queue = definition.name, definition.task_queue
    for label, value in (("start_to_close_timeout", start_to_close_timeout),
                         ("schedule_to_close_timeout", schedule_to_close_timeout),
                         ("heartbeat_timeout", heartbeat_timeout)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not 0 < value < math.inf):
            raise InvalidArgument(f"{label} must be a positive, finite number of seconds, got {value!r}")
    if retry is not None and not isinstance(retry, RetryPolicy):
        raise InvalidArgument(f"retry= takes an aion_actors.RetryPolicy, got {retry!r}")
    options = {"retry": retry.to_dict() if retry else None,
               "start_to_close_timeout": start_to_close_timeout,
               "schedule_to_close_timeout": schedule_to_close_timeout,
               "heartbeat_timeout": heartbeat_timeout}
    queue = task_queue if task_queue is not None else declared_queue
    if queue is not None:
        options["task_queue"] = check_queue_name(queue)
        options["priority"] = check_priority(priority)
        options["partition_key"] = check_partition_key(partition_key)
    elif priority != 0 or partition_key is not None:
        raise InvalidArgument(f"priority and partition_key apply to an activity on a task queue; give "
                              f"task_queue=... (or declare it with @activity.defn(task_queue=...)) for {name!r}")
    return inst.schedule_activity(name, converter.encode_value(list(args)), options)


async def sleep(seconds: float) -> None:
    """Wait durably. Records `TimerStarted`; wakes on `TimerFired`, even across restarts."""
    if not isinstance(seconds, (int, float)) or seconds < 0:
        raise InvalidArgument(f"workflow.sleep takes a number of seconds >= 0, got {seconds!r}")
    _instance()
    await asyncio.sleep(seconds)


async def receive(name: str, timeout: float | None = None, *, type: Any = Any) -> Any:
    """Wait for the next signal called `name` and return its payload.

    A selective receive: the k-th `receive(name)` gets the k-th signal of
    that name, whenever it arrived (early signals wait, durably, in the
    history). With `timeout` (seconds) a durable timer is started and the
    built-in `TimeoutError` is raised when it fires first. `type=` decodes
    the payload to that annotation (e.g. a dataclass).
    """
    if not isinstance(name, str) or not name:
        raise InvalidArgument(f"a signal name must be a non-empty string, got {name!r}")
    payload = await (asyncio.wait_for(_instance().receive(name), timeout) if timeout is not None
                     else _instance().receive(name))
    return converter.decode_value(payload, type)


class Timer:
    """A named durable timer: await it for the fire, or `.cancel()` it."""

    def __init__(self, future: asyncio.Future, handle: asyncio.TimerHandle) -> None:
        self._future = future
        self._handle = handle

    @property
    def timer_id(self) -> str:
        return self._handle.timer_id

    def cancel(self) -> None:
        """Records `TimerCancelled` (if it has not fired); awaiting it then raises `CancelledError`."""
        self._future.cancel()  # its done-callback cancels the durable timer, unless it already fired

    def __await__(self):
        return self._future.__await__()


def start_timer(name: str, seconds: float) -> Timer:
    """Start a named durable timer. Records `TimerStarted` with id `<ordinal>:<name>`."""
    if not isinstance(name, str) or not name or ":" in name:
        raise InvalidArgument(f"a timer name must be a non-empty string without ':', got {name!r}")
    if not isinstance(seconds, (int, float)) or seconds < 0:
        raise InvalidArgument(f"a timer takes a number of seconds >= 0, got {seconds!r}")
    inst = _instance()
    future = inst.loop.create_future()
    handle = inst.loop.call_later_named(name, seconds, lambda: future.done() or future.set_result(None))
    # Whoever stops waiting for it (a race it lost, a task cancelled) cancels the durable timer too.
    future.add_done_callback(lambda f: f.cancelled() and handle.cancel())
    return Timer(future, handle)


async def with_timeout(seconds: float, awaitable: Awaitable[Any]) -> Any:
    """Await with a durable deadline; raises the built-in `TimeoutError` (and cancels the awaitable)."""
    if not isinstance(seconds, (int, float)) or seconds < 0:
        raise InvalidArgument(f"with_timeout takes a number of seconds >= 0, got {seconds!r}")
    return await asyncio.wait_for(awaitable, seconds)


async def all_settled(awaitables: Iterable[Awaitable[Any]]) -> list[tuple[bool, Any]]:
    """Wait for every awaitable; per input, `(True, value)` or `(False, exception)`. Never raises for members."""
    futures = [asyncio.ensure_future(a) for a in awaitables]
    if futures:
        await asyncio.wait(futures)
    return [_settled(f) for f in futures]


def _settled(future: asyncio.Future) -> tuple[bool, Any]:
    if future.cancelled():
        return False, CancelledError("cancelled")
    if future.exception() is not None:
        return False, future.exception()
    return True, future.result()


def set_query_handler(name: str, handler: Callable[..., Any]) -> None:
    """Answer `handle.query(name, *args)` with `handler(*args)`.

    Handlers run on the live state between steps of the workflow, record
    nothing, and must not start activities or timers.
    """
    if not isinstance(name, str) or not name:
        raise InvalidArgument(f"a query name must be a non-empty string, got {name!r}")
    if not callable(handler):
        raise InvalidArgument(f"a query handler must be callable, got {handler!r}")
    _instance().query_handlers[name] = handler


async def all(awaitables: Iterable[Awaitable[Any]]) -> list[Any]:
    """Wait for every awaitable; results in input order.

    The first failure cancels the members still pending and is raised.
    """
    futures = [asyncio.ensure_future(a) for a in awaitables]
    if not futures:
        return []
    done, pending = await asyncio.wait(futures, return_when=asyncio.FIRST_EXCEPTION)
    failed = next((f for f in futures if f in done and not f.cancelled() and f.exception()), None)
    if failed is not None:
        for f in pending:
            f.cancel()
        raise failed.exception()
    return [f.result() for f in futures]


async def race(awaitables: Iterable[Awaitable[Any]]) -> Any:
    """Return (or raise) the outcome of the first awaitable to settle; cancel the rest.

    A loser's late result is not recorded.
    """
    futures = [asyncio.ensure_future(a) for a in awaitables]
    if not futures:
        raise InvalidArgument("workflow.race needs at least one awaitable")
    done, pending = await asyncio.wait(futures, return_when=asyncio.FIRST_COMPLETED)
    for f in pending:
        f.cancel()
    winner = next(f for f in futures if f in done)
    return winner.result()


PARENT_CLOSE_POLICIES = ("terminate", "abandon", "request_cancel")


class ChildHandle:
    """A started child workflow: await `.result()` (or the handle itself) for its outcome."""

    def __init__(self, workflow_id: str, future: asyncio.Future) -> None:
        self.workflow_id = workflow_id
        self._future = future

    def result(self) -> asyncio.Future:
        return self._future

    def __await__(self):
        return self._future.__await__()


def start_child(child: Callable[..., Any] | str, input: Any = None, *, id: str | None = None,
                parent_close_policy: str = "terminate") -> ChildHandle:
    """Start a child workflow and return its handle without waiting.

    Records `ChildWorkflowStarted` with the child's id (given, or derived from
    this workflow's id and the child's ordinal, so replay finds the same
    child), then the child is spawned under exactly that id. Its outcome is
    recorded in this history (`ChildWorkflowCompleted` / `Failed` /
    `Cancelled`) before this workflow sees it: a failure raises
    `WorkflowFailed`, a cancellation `WorkflowCancelled`.

    `parent_close_policy`: when this run ends, "terminate" (default) and
    "request_cancel" cancel the child if it still runs; "abandon" leaves it.
    """
    inst = _instance()
    name = child if isinstance(child, str) else workflow_definition(child).name
    if parent_close_policy not in PARENT_CLOSE_POLICIES:
        raise InvalidArgument(f"parent_close_policy must be one of {', '.join(PARENT_CLOSE_POLICIES)}, "
                              f"got {parent_close_policy!r}")
    if id is not None:
        check_workflow_id(id)
    child_id, future = inst.start_child(name, converter.encode_value(input), id, parent_close_policy)
    return ChildHandle(child_id, future)


async def execute_child(child: Callable[..., Any] | str, input: Any = None, *, id: str | None = None,
                        parent_close_policy: str = "terminate") -> Any:
    """Start a child workflow and wait for its result (see `start_child`)."""
    return await start_child(child, input, id=id, parent_close_policy=parent_close_policy)


def signal_external(workflow_id: str, name: str, payload: Any = None) -> asyncio.Future:
    """Send a signal to another workflow; await the result to know it was delivered.

    Records `SignalSent` at once (the signal goes whether or not the result is
    awaited; delivery is at-least-once), then the outcome:
    `ExternalSignalDelivered` once the target recorded it, or
    `ExternalSignalFailed`, and the await raises `WorkflowNotFound` (no
    workflow has that id) or `NotRunning` (it has ended). Replay gives the
    recorded outcome back without sending anything.
    """
    inst = _instance()
    if not isinstance(name, str) or not name:
        raise InvalidArgument(f"a signal name must be a non-empty string, got {name!r}")
    return inst.signal_external(check_workflow_id(workflow_id), name, converter.encode_value(payload))


def now() -> datetime:
    """The workflow's time: the `recorded_at` of the event that woke it (UTC)."""
    return _instance().now


def random() -> float:
    """A float in [0, 1) from a generator seeded by workflow id and run id."""
    return _instance().random.random()


def uuid4():
    """A UUID4 from the run's seeded generator: the same on every replay."""
    return _instance().deterministic_uuid()


def info() -> WorkflowInfo:
    """Ids and type of the current run."""
    return _instance().info


def continue_as_new(input: Any = None) -> None:
    """End this run and start the next one in the same history with `input`.

    Records `WorkflowContinuedAsNew`, then the next run's `WorkflowStarted`.
    Signals this run received and did not consume (including any recorded
    while this step ran) are recorded again for the next run, in the order
    they came, so none is lost. `handle.result()` follows the chain. Does
    not return.
    """
    _instance()
    raise ContinueAsNewRequest(converter.encode_value(input))


def patched(change_id: str) -> bool:
    """True on new runs (and replays of runs that took the new path); False on replays of older histories.

    A run that started before the change sees False, even at a call its old
    code passed without recording anything, and keeps seeing False for that
    change id (the answer is memoized per run).

    Records a marker (`patch:<change_id>`) the first time a run takes the new
    path, so a changed workflow keeps replaying its older histories::

        if workflow.patched("send-receipt"):
            await workflow.execute_activity(send_receipt, order)   # new code
        # else: the old code path, for runs recorded before the change

    Once no run that predates the change is still running, replace the
    `if` with `workflow.deprecate_patch("send-receipt")` and delete the old
    branch.
    """
    return _instance().patched(change_id)


def deprecate_patch(change_id: str) -> None:
    """Step two of a code change: the old branch of `patched(change_id)` is gone.

    Call it where `if workflow.patched(change_id):` was, once every run
    recorded before the change has ended. It keeps replaying the runs that
    recorded the `patched` marker (it matches it), records a
    `patch-deprecated:<change_id>` marker on new runs, and such deprecated
    markers are skipped on replay by code that no longer calls it at all —
    so step three, deleting this call, breaks no history either. A run
    recorded before the change (no marker) does not replay with the new
    code alone: `aion replay` reports it.
    """
    _instance().deprecate_patch(change_id)
