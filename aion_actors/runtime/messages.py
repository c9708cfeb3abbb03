"""Messages between the engine's actors: immutable, and picklable for multi-process bases."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from stores.base import Append

from .. import events as ev
from ..payload import Payload


# -- from clients (through the driver) -----------------------------------------

@dataclass(frozen=True, slots=True)
class InitEngine:
    context: Any


@dataclass(frozen=True, slots=True)
class Batch:
    """Everything the driver took from its inbox at once, fanned out by the engine actor."""
    items: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class StartWorkflow:
    corr: int
    workflow_id: str
    start: ev.WorkflowStarted


@dataclass(frozen=True, slots=True)
class DeliverToWorkflow:
    """Record `event` in the workflow's history, then deliver it to the run (seam: deliver_workflow_message)."""
    corr: int | None
    workflow_id: str
    event: ev.Event
    reply_to: Any = None
    observed_at: datetime | None = None  # a timer fire: when the engine's pass saw it due


@dataclass(frozen=True, slots=True)
class QueryWorkflow:
    corr: int
    workflow_id: str
    name: str
    args: tuple


@dataclass(frozen=True, slots=True)
class WaitResult:
    corr: int
    workflow_id: str


@dataclass(frozen=True, slots=True)
class ResolveWorkflow:
    corr: int
    workflow_id: str


@dataclass(frozen=True, slots=True)
class Recover:
    corr: int


@dataclass(frozen=True, slots=True)
class ShardsGained:
    """This node took these shards over: make their running workflows resident, arm their timers."""

    shards: frozenset[int]


@dataclass(frozen=True, slots=True)
class ShardsLost:
    """These shards are another node's now (or about to be): drop their resident runs at once."""

    shards: frozenset[int]


@dataclass(frozen=True, slots=True)
class Drain:
    """Ask the resident runs of these shards to passivate; the reply is the shards with none left."""

    corr: int
    shards: frozenset[int]


@dataclass(frozen=True, slots=True)
class TimersDue:
    pass


@dataclass(frozen=True, slots=True)
class ClientReply:
    corr: int
    ok: bool
    value: Any = None


# -- engine <-> recorder <-> writer ----------------------------------------------

@dataclass(frozen=True, slots=True)
class InitRecorder:
    """The Recorder's start message at its type supervisor: the same at every restart.

    So it carries no history (the Recorder reads the store, which is the truth
    after a crash) and no start (that is a `BeginRun`, sent once).
    """

    context: Any
    workflow_id: str
    engine: Any


@dataclass(frozen=True, slots=True)
class RecorderUp:
    """Recorder -> engine: I serve this workflow now (first start, or a restart)."""

    workflow_id: str


@dataclass(frozen=True, slots=True)
class BeginRun:
    """Engine -> a new workflow's Recorder: record its start and spawn its run."""

    start: ev.WorkflowStarted
    corr: int | None = None
    reply_to: Any = None


@dataclass(frozen=True, slots=True)
class DeadlinePassed:
    """Recorder -> run actor: an attempt's wheel deadline fell due (nothing recorded; see deadlines)."""

    timer_id: str


@dataclass(frozen=True, slots=True)
class RunCrashed:
    """Run actor -> Recorder, just before it dies of an engine bug: why."""

    reason: str


@dataclass(frozen=True, slots=True)
class InitWriter:
    context: Any
    backlog: Any = None  # in process, the driver's `writer.Backlog`: the driver flushes


@dataclass(frozen=True, slots=True)
class AppendRequest:
    token: int
    append: Append


@dataclass(frozen=True, slots=True)
class Flush:
    """Write what the writer holds, in one transaction."""


@dataclass(frozen=True, slots=True)
class AppendDone:
    token: int
    error: BaseException | None


@dataclass(frozen=True, slots=True)
class RunClosed:
    """Recorder -> engine: the run ended (`outcome`, its terminal event) and its appends are committed."""
    workflow_id: str
    outcome: ev.Event | None = None
    parent_workflow_id: str | None = None
    workflow_type: str = ""


@dataclass(frozen=True, slots=True)
class Fenced:
    workflow_id: str
    reason: str


# -- recorder <-> workflow actor ------------------------------------------------

@dataclass(frozen=True, slots=True)
class InitWorkflow:
    context: Any
    workflow_id: str
    history: tuple[ev.HistoryEvent, ...]
    recorder: Any
    engine: Any
    fresh: bool = False  # the run was just started here; otherwise it is rebuilt from the store


@dataclass(frozen=True, slots=True)
class Record:
    """Append these events (all or none); reply `Recorded` with them enveloped."""
    token: int
    events: tuple[ev.Event, ...]
    applied: int = 0  # the last seq the run had applied when it sent this (what its code has seen)


@dataclass(frozen=True, slots=True)
class Recorded:
    """The events of a `Record`, with their seqs: apply them now, act on them at `Committed`."""
    token: int
    events: tuple[ev.HistoryEvent, ...]


@dataclass(frozen=True, slots=True)
class Committed:
    """The `Record` with this token is durable: its effects may happen."""
    token: int


@dataclass(frozen=True, slots=True)
class Resolved:
    """An event committed on the run's behalf (signal, timer fire, cancel request): apply it.

    The run applies it in seq order with its own `Recorded` events."""
    event: ev.HistoryEvent


@dataclass(frozen=True, slots=True)
class RunQuery:
    corr: int
    name: str
    args: tuple
    reply_to: Any


# -- workflow actor <-> activity actor --------------------------------------------

@dataclass(frozen=True, slots=True)
class RunAttempt:
    context: Any
    workflow_id: str
    activity_id: int
    activity_type: str
    input: Payload
    attempt: int
    heartbeat_details: Payload | None = None
    heartbeat_timeout: float | None = None  # so the attempt's heartbeat throttle fits inside it
    run_id: str = ""                        # on a task queue: the run that put the task
    placement: tuple | None = None          # on a task queue: (queue, priority, partition_key)


@dataclass(frozen=True, slots=True)
class AttemptDone:
    activity_id: int
    attempt: int
    result: Payload | None = None
    failure: Any = None
    heartbeat: Payload | None = None  # the last details not yet sent as a Heartbeat
    worker_died: bool = False  # the process that ran it died (or was killed) before it answered


@dataclass(frozen=True, slots=True)
class Heartbeat:
    activity_id: int
    attempt: int
    details: Payload


@dataclass(frozen=True, slots=True)
class CancelAttempt:
    reason: str = ""


# -- seam operations that need no reply ------------------------------------------

@dataclass(frozen=True, slots=True)
class ArmTimer:
    workflow_id: str
    timer_id: str
    fire_at: Any


@dataclass(frozen=True, slots=True)
class DisarmTimer:
    workflow_id: str
    timer_id: str | None


@dataclass(frozen=True, slots=True)
class TerminateActivity:
    workflow_id: str
    activity_id: int
    reason: str


@dataclass(frozen=True, slots=True)
class SpawnChild:
    parent_workflow_id: str
    child_workflow_id: str
    workflow_type: str
    input: Payload
    parent_run_id: str | None = None  # the parent's run that recorded the child: the id is its, not its later runs'


# -- residency ---------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Housekeeping:
    """From the driver about once a second: passivate idle runs, enforce the resident cap."""


@dataclass(frozen=True, slots=True)
class Passivate:
    workflow_id: str


@dataclass(frozen=True, slots=True)
class RunIdle:
    """The run actor's answer to Passivate: `idle` means it has closed its code and holds nothing."""
    idle: bool


@dataclass(frozen=True, slots=True)
class Passivated:
    workflow_id: str
