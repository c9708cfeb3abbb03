"""What workflow code asks of the engine, and how each is matched against history.

A command becomes one history event when it is recorded. On replay, each
command the code issues is compared with the next recorded command event;
`key()` is the correlation key (activity ordinal, timer id, child ordinal,
signal target + name, marker name) that must agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from . import events as ev
from .errors import Failure
from .payload import Payload


@dataclass(frozen=True, slots=True)
class Command:
    def to_event(self) -> ev.Event:
        raise NotImplementedError

    def key(self) -> tuple:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class ScheduleActivity(Command):
    activity_id: int
    activity_type: str
    input: Payload
    options: dict

    def to_event(self) -> ev.Event:
        return ev.ActivityScheduled(self.activity_id, self.activity_type, self.input, self.options)

    def key(self) -> tuple:
        return ("activity", self.activity_id, self.activity_type)


@dataclass(frozen=True, slots=True)
class RequestCancelActivity(Command):
    activity_id: int
    reason: str

    def to_event(self) -> ev.Event:
        return ev.ActivityCancelled(self.activity_id, self.reason)

    def key(self) -> tuple:
        return ("cancel-activity", self.activity_id)


@dataclass(frozen=True, slots=True)
class StartTimer(Command):
    timer_id: str
    fire_at: datetime

    def to_event(self) -> ev.Event:
        return ev.TimerStarted(self.timer_id, self.fire_at)

    def key(self) -> tuple:
        return ("timer", self.timer_id)


@dataclass(frozen=True, slots=True)
class CancelTimer(Command):
    timer_id: str

    def to_event(self) -> ev.Event:
        return ev.TimerCancelled(self.timer_id)

    def key(self) -> tuple:
        return ("cancel-timer", self.timer_id)


@dataclass(frozen=True, slots=True)
class StartChild(Command):
    ordinal: int
    child_workflow_id: str
    workflow_type: str
    input: Payload
    parent_close_policy: str

    def to_event(self) -> ev.Event:
        return ev.ChildWorkflowStarted(self.ordinal, self.child_workflow_id, self.workflow_type,
                                       self.input, self.parent_close_policy)

    def key(self) -> tuple:
        return ("child", self.ordinal, self.workflow_type)


@dataclass(frozen=True, slots=True)
class SignalExternal(Command):
    target_workflow_id: str
    name: str
    payload: Payload
    ordinal: int = 0

    def to_event(self) -> ev.Event:
        return ev.SignalSent(self.target_workflow_id, self.name, self.payload, self.ordinal)

    def key(self) -> tuple:
        return ("signal-external", self.target_workflow_id, self.name)


@dataclass(frozen=True, slots=True)
class RecordMarker(Command):
    name: str
    details: Payload | None

    def to_event(self) -> ev.Event:
        return ev.MarkerRecorded(self.name, self.details)

    def key(self) -> tuple:
        return ("marker", self.name)


@dataclass(frozen=True, slots=True)
class CompleteWorkflow(Command):
    result: Payload

    def to_event(self) -> ev.Event:
        return ev.WorkflowCompleted(self.result)

    def key(self) -> tuple:
        return ("complete",)


@dataclass(frozen=True, slots=True)
class FailWorkflow(Command):
    failure: Failure

    def to_event(self) -> ev.Event:
        return ev.WorkflowFailed(self.failure)

    def key(self) -> tuple:
        return ("fail",)


@dataclass(frozen=True, slots=True)
class CancelWorkflow(Command):
    reason: str

    def to_event(self) -> ev.Event:
        return ev.WorkflowCancelled(self.reason)

    def key(self) -> tuple:
        return ("cancelled",)


@dataclass(frozen=True, slots=True)
class ContinueAsNew(Command):
    input: Payload
    next_run_id: str

    def to_event(self) -> ev.Event:
        return ev.WorkflowContinuedAsNew(self.input, self.next_run_id)

    def key(self) -> tuple:
        return ("continue-as-new",)


def key_of_event(event: ev.Event) -> tuple | None:
    """The correlation key of a recorded command event; None for other events."""
    match event:
        case ev.ActivityScheduled(activity_id=a, activity_type=t):
            return ("activity", a, t)
        case ev.ActivityCancelled(activity_id=a):
            return ("cancel-activity", a)
        case ev.TimerStarted(timer_id=t) if not t.startswith(ENGINE_TIMER_PREFIX):
            return ("timer", t)
        case ev.TimerCancelled(timer_id=t) if not t.startswith(ENGINE_TIMER_PREFIX):
            return ("cancel-timer", t)
        case ev.ChildWorkflowStarted(ordinal=o, workflow_type=t):
            return ("child", o, t)
        case ev.SignalSent(target_workflow_id=w, name=n):
            return ("signal-external", w, n)
        case ev.MarkerRecorded(name=n):
            return ("marker", n)
        case ev.WorkflowCompleted():
            return ("complete",)
        case ev.WorkflowFailed():
            return ("fail",)
        case ev.WorkflowCancelled(terminated=False):
            return ("cancelled",)
        case ev.WorkflowContinuedAsNew():
            return ("continue-as-new",)
    return None


# Timers the engine starts for itself (retry backoff, timeouts) rather than
# for workflow code; replay does not match them against commands.
ENGINE_TIMER_PREFIX = "engine:"
