"""The deterministic replay driver: one run of workflow code, stepped by history.

The engine feeds a run its history one event at a time (`apply`), then keeps
feeding the events it records live. Two kinds of events matter:

- *Command events* (ActivityScheduled, TimerStarted, ChildWorkflowStarted,
  SignalSent, MarkerRecorded, the terminal events, ...) are what the code
  asked for. Each is matched, in order, against the commands the code has
  issued; a different correlation key is a `NonDeterminismError`.
- *Resolution events* (ActivityCompleted, TimerFired, SignalReceived,
  ChildWorkflowCompleted, WorkflowCancelRequested, ...) wake the code: the
  waiting future is resolved, `now()` becomes the event's `recorded_at`, and
  the loop runs until every task waits again.

Live and replay take the same path: the engine records the commands from
`take_new_commands()` and then applies the recorded events, which match.
A completed activity is therefore never re-run on replay: its result is read
from the ActivityCompleted event.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import random as _random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable

from . import commands as cmd
from . import converter
from . import events as ev
from ._loop import DurableTimerHandle, WorkflowLoop, WorkflowRuleError
from .definitions import Registry, WorkflowDefinition
from .errors import (ActivityError, AionError, Failure, NonDeterminismError, NotRunning,
                     WorkflowAlreadyExists, WorkflowCancelled, WorkflowFailed, WorkflowNotFound)
from .ids import timer_id_for
from .payload import Payload
from .strict_replay import same_arguments


@dataclass(frozen=True, slots=True)
class WorkflowInfo:
    workflow_id: str
    run_id: str
    workflow_type: str
    parent_workflow_id: str | None = None
    run_number: int = 1


class ContinueAsNewRequest(BaseException):
    """Unwinds workflow code after `workflow.continue_as_new`; not an error."""

    def __init__(self, input: Payload) -> None:
        self.input = input


def _describe_command_event(event: ev.Event) -> str:
    key = cmd.key_of_event(event)
    return f"{event.type_name}{key[1:] if key else ''}"


class WorkflowInstance:
    def __init__(self, definition: WorkflowDefinition, info: WorkflowInfo, input: Payload,
                 started_at: datetime, registry: Registry | None = None) -> None:
        self.definition = definition
        self.info = info
        self.registry = registry
        self.now: datetime = started_at
        self.loop = WorkflowLoop(self)
        self.replaying = False
        # Strict: a command must match its recorded event byte for byte (arguments too),
        # not only by correlation key. The replay checker uses it; the engine does not.
        self.strict = False
        self.finished = False
        self._input = input
        self._issued: collections.deque[cmd.Command] = collections.deque()
        self._taken = 0
        self._activity_seq = 0
        self._timer_seq = 0
        self._child_seq = 0
        self._signal_seq = 0
        self._child_ids: set[str] = set()
        self._outgoing: dict[int, tuple[asyncio.Future, str]] = {}  # signals sent, by ordinal, until resolved
        self._activities: dict[int, tuple[asyncio.Future, str]] = {}
        self._timers: dict[str, DurableTimerHandle] = {}
        self._children: dict[str, tuple[asyncio.Future, str]] = {}
        # Children whose awaiting future was cancelled: the engine asks them to cancel (not recorded here).
        self.child_cancellations: list[str] = []
        # Signals received and not yet consumed, by name, each with its place in arrival order.
        self._signals: dict[str, collections.deque[tuple[int, Payload]]] = collections.defaultdict(collections.deque)
        self._signals_received = 0
        self._receivers: dict[str, collections.deque[asyncio.Future]] = collections.defaultdict(collections.deque)
        self.query_handlers: dict[str, Callable[..., Any]] = {}
        self._in_query = False
        self._patches: dict[str, bool] = {}
        self._recorded_patches: dict[str, str] = {}  # change id -> the marker name the history recorded
        self._cancel_requested: str | None = None
        seed = hashlib.sha256(f"{info.workflow_id}\x00{info.run_id}".encode()).digest()
        self.random = _random.Random(int.from_bytes(seed[:16], "big"))
        self._main: asyncio.Task | None = None

    # -- driving -----------------------------------------------------------

    def start(self) -> None:
        """Create the main task and run the first activation."""
        args = []
        if self.definition.takes_input:
            (annotation,) = converter.parameter_annotations(self.definition.fn)[:1] or (Any,)
            args.append(converter.decode_value(self._input, annotation))
        self._main = self.loop.create_task(self.definition.fn(*args), name=self.info.workflow_type)
        self._main.add_done_callback(self._on_main_done)
        self.loop.run_until_idle()

    def expect_patches(self, history: list[ev.HistoryEvent]) -> None:
        """Tell `patched()` / `deprecate_patch()` which change ids the recorded history took (replay only)."""
        self._recorded_patches = {}
        for e in history:
            if isinstance(e.event, ev.MarkerRecorded):
                for prefix in (PATCH_PREFIX, DEPRECATED_PATCH_PREFIX):
                    if e.event.name.startswith(prefix):
                        self._recorded_patches.setdefault(e.event.name[len(prefix):], e.event.name)

    def take_new_commands(self) -> list[cmd.Command]:
        """Commands issued since the last call; the engine records them next."""
        new = list(self._issued)[self._taken:]
        self._taken = len(self._issued)
        return new

    def apply(self, event: ev.HistoryEvent) -> None:
        """Apply one recorded event (after WorkflowStarted) to this run."""
        key = cmd.key_of_event(event.event)
        if key is not None:
            self._match(event, key)
            return
        handler = _RESOLVERS.get(type(event.event))
        if handler is None:
            return
        if self.finished:
            if isinstance(event.event, ev.SignalReceived):
                self._buffer_signal(event.event)  # too late for this run; one continuing as new passes it on
            return
        self.now = event.recorded_at
        handler(self, event.event)
        self.loop.run_until_idle()

    def _match(self, event: ev.HistoryEvent, key: tuple) -> None:
        if _deprecated_patch(event.event) and (not self._issued or self._issued[0].key() != key):
            # Code that dropped a deprecated patch still replays the runs that recorded it.
            self._recorded_patches.pop(event.event.name[len(DEPRECATED_PATCH_PREFIX):], None)
            return
        if not self._issued:
            raise NonDeterminismError(self.info.workflow_id, event.seq, _describe_command_event(event.event),
                                      "no command (the code is waiting)")
        issued = self._issued[0]
        if issued.key() != key:
            raise NonDeterminismError(self.info.workflow_id, event.seq, _describe_command_event(event.event),
                                      f"{type(issued).__name__}{issued.key()[1:]}")
        if self.strict and not same_arguments(issued.to_event(), event.event):
            raise NonDeterminismError(self.info.workflow_id, event.seq, f"{event.event!r}",
                                      f"{issued.to_event()!r} (same command, other arguments)")
        self._issued.popleft()
        self._taken = max(0, self._taken - 1)
        if isinstance(event.event, ev.SignalSent) and event.event.ordinal == 0:
            # Recorded before outcomes were: it was sent without one, so nothing is left to wait for.
            self._signal_delivered(ev.ExternalSignalDelivered(issued.ordinal))

    def close(self) -> None:
        """Stop the code (passivation, engine stop): cancel tasks without recording anything."""
        self.finished = True
        self.loop.close()

    # -- commands issued by workflow code --------------------------------

    def issue(self, command: cmd.Command) -> None:
        if self._in_query:
            raise WorkflowRuleError("a query handler must not record anything (no activities, timers or signals)")
        if self.finished:
            raise WorkflowRuleError("this workflow run has ended")
        self._issued.append(command)

    def schedule_activity(self, activity_type: str, input: Payload, options: dict) -> asyncio.Future:
        self._activity_seq += 1
        activity_id = self._activity_seq
        self.issue(cmd.ScheduleActivity(activity_id, activity_type, input, options))
        future = self.loop.create_future()
        self._activities[activity_id] = (future, activity_type)

        def on_done(f: asyncio.Future) -> None:
            if f.cancelled() and activity_id in self._activities and not self.finished:
                del self._activities[activity_id]
                self.issue(cmd.RequestCancelActivity(activity_id, "cancelled by the workflow"))

        future.add_done_callback(on_done)
        return future

    def start_timer(self, handle: DurableTimerHandle, delay: float, name: str | None = None) -> str:
        self._timer_seq += 1
        timer_id = timer_id_for(self._timer_seq, name)
        fire_at = self.now + timedelta(seconds=delay)  # from workflow time, as the code computed it
        self.issue(cmd.StartTimer(timer_id, fire_at))
        self._timers[timer_id] = handle
        return timer_id

    def cancel_timer(self, timer_id: str) -> None:
        if self._timers.pop(timer_id, None) is not None and not self.finished:
            self.issue(cmd.CancelTimer(timer_id))

    def receive(self, name: str) -> asyncio.Future:
        future = self.loop.create_future()
        buffered = self._signals[name]
        if buffered:
            future.set_result(buffered.popleft()[1])
        else:
            waiters = self._receivers[name]
            waiters.append(future)
            future.add_done_callback(lambda f: f in waiters and waiters.remove(f))
        return future

    def signal_external(self, target: str, name: str, payload: Payload) -> asyncio.Future:
        self._signal_seq += 1
        self.issue(cmd.SignalExternal(target, name, payload, self._signal_seq))
        future = self.loop.create_future()
        self._outgoing[self._signal_seq] = (future, target)
        return future

    def start_child(self, workflow_type: str, input: Payload, child_id: str | None,
                    parent_close_policy: str) -> tuple[str, asyncio.Future]:
        if child_id is not None and child_id in self._child_ids:
            raise WorkflowAlreadyExists(child_id)  # this run started it already: one id, one child
        self._child_seq += 1
        child_id = child_id or f"{self.info.workflow_id}/{self._child_seq}"
        self._child_ids.add(child_id)
        self.issue(cmd.StartChild(self._child_seq, child_id, workflow_type, input, parent_close_policy))
        future = self.loop.create_future()
        self._children[child_id] = (future, workflow_type)

        def on_done(f: asyncio.Future) -> None:
            if f.cancelled() and self._children.pop(child_id, None) is not None and not self.finished:
                self.child_cancellations.append(child_id)

        future.add_done_callback(on_done)
        return child_id, future

    def patched(self, change_id: str) -> bool:
        if change_id not in self._patches:
            recorded = self._recorded_patches.get(change_id)
            took = recorded is not None or not self.replaying
            if took:
                self.issue(cmd.RecordMarker(recorded or PATCH_PREFIX + change_id, None))
            self._patches[change_id] = took
        return self._patches[change_id]

    def deprecate_patch(self, change_id: str) -> None:
        if change_id not in self._patches:
            recorded = self._recorded_patches.get(change_id)
            if recorded is not None or not self.replaying:  # an older run without the marker needs none
                self.issue(cmd.RecordMarker(recorded or DEPRECATED_PATCH_PREFIX + change_id, None))
            self._patches[change_id] = True

    def deterministic_uuid(self) -> uuid.UUID:
        return uuid.UUID(int=self.random.getrandbits(128), version=4)

    def query(self, name: str, args: tuple) -> Any:
        handler = self.query_handlers[name]
        self._in_query = True
        try:
            return handler(*args)
        finally:
            self._in_query = False

    # -- resolutions -------------------------------------------------------

    def _activity_completed(self, event: ev.ActivityCompleted) -> None:
        entry = self._activities.pop(event.activity_id, None)
        if entry and not entry[0].done():
            future, activity_type = entry
            future.set_result(converter.decode_value(event.result, self._activity_return(activity_type)))

    def _activity_failed(self, event: ev.ActivityFailed) -> None:
        if event.kind != ev.TERMINAL:
            return
        entry = self._activities.pop(event.activity_id, None)
        if entry and not entry[0].done():
            future, activity_type = entry
            future.set_exception(ActivityError(activity_type, event.activity_id, event.failure, event.attempt))

    def _timer_fired(self, event: ev.TimerFired) -> None:
        handle = self._timers.pop(event.timer_id, None)
        if handle is not None and not handle.cancelled():
            self.loop._ready.append(handle)

    def _signal_received(self, event: ev.SignalReceived) -> None:
        waiters = self._receivers[event.name]
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(event.payload)
                return
        self._buffer_signal(event)

    def _buffer_signal(self, event: ev.SignalReceived) -> None:
        self._signals_received += 1
        self._signals[event.name].append((self._signals_received, event.payload))

    def take_unconsumed_signals(self) -> list[ev.SignalReceived]:
        """The signals this run received and did not consume, in arrival order (then forgotten).

        A run that continues as new hands them to the next run, which records them again.
        """
        waiting = sorted((place, name, payload) for name, queue in self._signals.items() for place, payload in queue)
        self._signals.clear()
        return [ev.SignalReceived(name, payload) for _, name, payload in waiting]

    def _child_closed(self, event: ev.Event) -> None:
        entry = self._children.pop(event.child_workflow_id, None)
        if entry is None or entry[0].done():
            return
        future, workflow_type = entry
        if isinstance(event, ev.ChildWorkflowCompleted):
            definition = self.registry.workflows.get(workflow_type) if self.registry else None
            annotation = converter.return_annotation(definition.fn) if definition else Any
            future.set_result(converter.decode_value(event.result, annotation))
        elif isinstance(event, ev.ChildWorkflowFailed):
            future.set_exception(WorkflowFailed(event.child_workflow_id, event.failure))
        elif isinstance(event, ev.ChildWorkflowStartFailed):
            future.set_exception(WorkflowAlreadyExists(event.child_workflow_id))
        else:
            future.set_exception(WorkflowCancelled(event.child_workflow_id, event.reason))

    def _signal_delivered(self, event: ev.ExternalSignalDelivered) -> None:
        future, _ = self._outgoing.pop(event.ordinal, (None, ""))
        if future is not None and not future.done():
            future.set_result(None)

    def _signal_failed(self, event: ev.ExternalSignalFailed) -> None:
        future, target = self._outgoing.pop(event.ordinal, (None, ""))
        if future is None or future.done():
            return
        if event.failure.type == "WorkflowNotFound":
            future.set_exception(WorkflowNotFound(target))
        else:
            status = event.failure.decoded_details()
            future.set_exception(NotRunning(target, status[0] if status else "closed"))

    def _cancel_requested_event(self, event: ev.WorkflowCancelRequested) -> None:
        if self._cancel_requested is None and self._main is not None and not self._main.done():
            self._cancel_requested = event.reason
            self._main.cancel(event.reason or "workflow cancelled")

    def _activity_return(self, activity_type: str) -> Any:
        definition = self.registry.activity(activity_type) if self.registry else None
        return converter.return_annotation(definition.fn) if definition else Any

    # -- the end of the run -----------------------------------------------

    def _on_main_done(self, task: asyncio.Task) -> None:
        self.finished = True
        self._in_query = False
        if task.cancelled():
            self._issued.append(cmd.CancelWorkflow(self._cancel_requested or "cancelled"))
            return
        exc = task.exception()
        if exc is None:
            try:
                result = converter.encode_value(task.result())
            except AionError as bad:
                self._issued.append(cmd.FailWorkflow(Failure.from_exception(bad)))
                return
            self._issued.append(cmd.CompleteWorkflow(result))
        elif isinstance(exc, ContinueAsNewRequest):
            next_run = uuid.UUID(int=self.random.getrandbits(128), version=4).hex
            self._issued.append(cmd.ContinueAsNew(exc.input, next_run))
        else:
            self._issued.append(cmd.FailWorkflow(Failure.from_exception(exc)))


PATCH_PREFIX = "patch:"
DEPRECATED_PATCH_PREFIX = "patch-deprecated:"


def _deprecated_patch(event: ev.Event) -> bool:
    return isinstance(event, ev.MarkerRecorded) and event.name.startswith(DEPRECATED_PATCH_PREFIX)

_RESOLVERS: dict[type, Callable[[WorkflowInstance, Any], None]] = {
    ev.ActivityCompleted: WorkflowInstance._activity_completed,
    ev.ActivityFailed: WorkflowInstance._activity_failed,
    ev.TimerFired: WorkflowInstance._timer_fired,
    ev.SignalReceived: WorkflowInstance._signal_received,
    ev.WorkflowCancelRequested: WorkflowInstance._cancel_requested_event,
    ev.ExternalSignalDelivered: WorkflowInstance._signal_delivered,
    ev.ExternalSignalFailed: WorkflowInstance._signal_failed,
    ev.ChildWorkflowCompleted: WorkflowInstance._child_closed,
    ev.ChildWorkflowFailed: WorkflowInstance._child_closed,
    ev.ChildWorkflowCancelled: WorkflowInstance._child_closed,
    ev.ChildWorkflowStartFailed: WorkflowInstance._child_closed,
}
