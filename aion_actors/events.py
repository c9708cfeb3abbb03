"""The event catalog: every durable fact of a workflow's history.

Each event is a frozen dataclass of what happened; the Recorder wraps it in
a `HistoryEvent` envelope (seq, recorded_at, workflow_id, run_id) when it is
appended. Replay reads these back and answers workflow commands from them,
so the wire form is versioned: `WIRE_VERSION` is written with every event
and an event of an unknown type or version is refused with a `StoreError`
rather than guessed at.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

import msgpack

from stores.base import StoredEvent

from .errors import Failure, StoreError
from .payload import Payload

WIRE_VERSION = 1


@dataclass(frozen=True, slots=True)
class Event:
    """Base of every history event."""

    type_name: ClassVar[str] = "Event"


# -- workflow lifecycle -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class WorkflowStarted(Event):
    workflow_type: str
    input: Payload
    parent_workflow_id: str | None = None
    parent_run_id: str | None = None
    code_version: str | None = None
    execution_timeout: float | None = None


@dataclass(frozen=True, slots=True)
class WorkflowCompleted(Event):
    result: Payload


@dataclass(frozen=True, slots=True)
class WorkflowFailed(Event):
    failure: Failure


@dataclass(frozen=True, slots=True)
class WorkflowCancelRequested(Event):
    reason: str = ""
    requested_by: str | None = None  # the parent taking its linked child down; None: a client


@dataclass(frozen=True, slots=True)
class WorkflowCancelled(Event):
    reason: str = ""
    terminated: bool = False


@dataclass(frozen=True, slots=True)
class WorkflowTimedOut(Event):
    timeout: float | None = None


@dataclass(frozen=True, slots=True)
class WorkflowContinuedAsNew(Event):
    input: Payload
    next_run_id: str


@dataclass(frozen=True, slots=True)
class WorkflowPaused(Event):
    reason: str = ""


@dataclass(frozen=True, slots=True)
class WorkflowResumed(Event):
    reason: str = ""


@dataclass(frozen=True, slots=True)
class WorkflowReopened(Event):
    reason: str = ""


# -- activities -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ActivityScheduled(Event):
    activity_id: int
    activity_type: str
    input: Payload
    options: dict = dataclasses.field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ActivityStarted(Event):
    activity_id: int
    attempt: int


@dataclass(frozen=True, slots=True)
class ActivityCompleted(Event):
    activity_id: int
    attempt: int
    result: Payload


RETRYABLE = "retryable"
TERMINAL = "terminal"


@dataclass(frozen=True, slots=True)
class ActivityFailed(Event):
    activity_id: int
    attempt: int
    failure: Failure
    kind: str = TERMINAL  # RETRYABLE: another attempt follows; TERMINAL: the activity failed for good


@dataclass(frozen=True, slots=True)
class ActivityCancelled(Event):
    activity_id: int
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ActivityHeartbeat(Event):
    activity_id: int
    attempt: int
    details: Payload


# -- timers -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TimerStarted(Event):
    timer_id: str
    fire_at: datetime


@dataclass(frozen=True, slots=True)
class TimerFired(Event):
    timer_id: str


@dataclass(frozen=True, slots=True)
class TimerCancelled(Event):
    timer_id: str


# -- signals ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SignalReceived(Event):
    name: str
    payload: Payload
    # Who sent it, when a retry could bring it twice ("request:<id>" through the inbox, or the
    # sending run's ordinal): a second delivery with a key already recorded records nothing.
    key: str = ""


@dataclass(frozen=True, slots=True)
class SignalSent(Event):
    target_workflow_id: str
    name: str
    payload: Payload
    # Correlates the delivery's outcome; 0 in histories recorded before outcomes were (nothing to wait for).
    ordinal: int = 0


@dataclass(frozen=True, slots=True)
class ExternalSignalDelivered(Event):
    """The signal of `SignalSent(ordinal)` was recorded in its target's history."""

    ordinal: int


@dataclass(frozen=True, slots=True)
class ExternalSignalFailed(Event):
    """The signal of `SignalSent(ordinal)` could not be delivered (no such workflow, or it ended)."""

    ordinal: int
    failure: Failure


# -- child workflows --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChildWorkflowStarted(Event):
    ordinal: int
    child_workflow_id: str
    workflow_type: str
    input: Payload
    parent_close_policy: str = "terminate"


@dataclass(frozen=True, slots=True)
class ChildWorkflowCompleted(Event):
    child_workflow_id: str
    result: Payload


@dataclass(frozen=True, slots=True)
class ChildWorkflowFailed(Event):
    child_workflow_id: str
    failure: Failure


@dataclass(frozen=True, slots=True)
class ChildWorkflowCancelled(Event):
    child_workflow_id: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ChildWorkflowStartFailed(Event):
    """The child could not be started: its id is held by a workflow that is not this parent's child."""

    child_workflow_id: str
    failure: Failure


# What ends a child, as its parent's history sees it.
CHILD_OUTCOMES = (ChildWorkflowCompleted, ChildWorkflowFailed, ChildWorkflowCancelled, ChildWorkflowStartFailed)


def child_outcome(child_id: str, terminal: Event) -> Event:
    """The event a parent records when its child's run ended with `terminal`."""
    if isinstance(terminal, WorkflowCompleted):
        return ChildWorkflowCompleted(child_id, terminal.result)
    if isinstance(terminal, WorkflowFailed):
        return ChildWorkflowFailed(child_id, terminal.failure)
    if isinstance(terminal, WorkflowCancelled):
        return ChildWorkflowCancelled(child_id, terminal.reason)
    return ChildWorkflowFailed(child_id, Failure("WorkflowTimedOut", f"child {child_id!r} timed out"))


# -- markers (patches, side effects) ---------------------------------------


@dataclass(frozen=True, slots=True)
class MarkerRecorded(Event):
    name: str
    details: Payload | None = None


# -- the envelope and the wire form ------------------------------------------


@dataclass(frozen=True, slots=True)
class HistoryEvent:
    """An event as recorded: its place in the history and when it was written."""

    seq: int
    recorded_at: datetime
    workflow_id: str
    run_id: str
    event: Event

    @property
    def type_name(self) -> str:
        return self.event.type_name


EVENT_TYPES: dict[str, type[Event]] = {}

# Per event type, the fields and how each is turned into wire data and back.
_CODERS: dict[type[Event], tuple[tuple[str, Any, Any], ...]] = {}


def _payload_out(p: Payload | None) -> Any:
    return None if p is None else [p.content_type, p.data]


def _payload_in(v: Any) -> Payload | None:
    return None if v is None else Payload(v[0], v[1])


def _failure_out(f: Failure) -> Any:
    out = [f.type, f.message, f.traceback, f.non_retryable]
    if f.details:  # only then: a failure without details keeps the form older versions wrote and read
        out.append([_payload_out(p) for p in f.details])
    return out


def _failure_in(v: Any) -> Failure:
    details = tuple(_payload_in(p) for p in v[4]) if len(v) > 4 else ()
    return Failure(v[0], v[1], v[2], v[3], details)


def _same(v: Any) -> Any:
    return v


def _register(cls: type[Event]) -> None:
    hints = typing.get_type_hints(cls)
    coders = []
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        if hint in (Payload, Payload | None):
            coders.append((f.name, _payload_out, _payload_in))
        elif hint is Failure:
            coders.append((f.name, _failure_out, _failure_in))
        else:
            coders.append((f.name, _same, _same))
    cls.type_name = cls.__name__
    EVENT_TYPES[cls.__name__] = cls
    _CODERS[cls] = tuple(coders)


for _cls in list(globals().values()):
    if isinstance(_cls, type) and issubclass(_cls, Event) and _cls is not Event:
        _register(_cls)


def encode_event(event: Event) -> bytes:
    body = [out(getattr(event, name)) for name, out, _ in _CODERS[type(event)]]
    return msgpack.packb([WIRE_VERSION, body], use_bin_type=True, datetime=True)


def decode_event(type_name: str, data: bytes) -> Event:
    cls = EVENT_TYPES.get(type_name)
    if cls is None:
        raise ValueError(f"unknown event type {type_name!r}")
    version, body = msgpack.unpackb(data, raw=False, timestamp=3, strict_map_key=False)
    if version != WIRE_VERSION:
        raise ValueError(f"event wire version {version}, this aion_actors reads {WIRE_VERSION}")
    coders = _CODERS[cls]
    if len(body) > len(coders):
        raise ValueError(f"{type_name} has {len(body)} fields, this aion_actors knows {len(coders)}")
    # A shorter body was written before a field was added: the added fields take their defaults.
    return cls(**{name: into(value) for (name, _, into), value in zip(coders, body)})


def to_stored(event: HistoryEvent) -> StoredEvent:
    return StoredEvent(event.workflow_id, event.seq, event.run_id, event.event.type_name,
                       event.recorded_at, encode_event(event.event))


def from_stored(stored: StoredEvent) -> HistoryEvent:
    try:
        event = decode_event(stored.type, stored.data)
    except Exception as exc:
        raise StoreError(
            f"event seq {stored.seq} of workflow {stored.workflow_id!r} cannot be read "
            f"({exc}); it was written by another aion_actors version or is damaged"
        ) from exc
    return HistoryEvent(stored.seq, stored.recorded_at, stored.workflow_id, stored.run_id, event)
