"""The seam between the engine's services and its actors: `EngineHandle`.

Services (signals, queries, timers, child workflows) never touch actors or
the store directly; they call these operations. The engine's
implementation (`ActorEngineHandle`) turns each call into a message to the
engine actor, which routes it through the workflow's Recorder — so every
event is recorded before its effect is delivered. `RecordingEngineHandle`
captures the calls in order for unit tests of services.
"""

from __future__ import annotations

import concurrent.futures
import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from . import events as ev
from .payload import Payload


class Residency(str, enum.Enum):
    """Where a workflow lives right now."""

    RESIDENT = "resident"          # its actors are alive in this engine
    NON_RESIDENT = "non_resident"  # durable and running, rebuilt by replay when needed
    TERMINAL = "terminal"          # ended: nothing more is recorded
    UNKNOWN = "unknown"            # no such workflow in the store


@dataclass(frozen=True, slots=True)
class Query:
    """A mailbox message that asks the live run; `reply` receives a `Payload` or an error."""

    name: str
    args: tuple
    reply: concurrent.futures.Future = field(default_factory=concurrent.futures.Future, compare=False)


# What may be delivered to a workflow's mailbox: each is recorded first, except Query.
MailboxMessage = (ev.TimerFired | ev.SignalReceived | ev.WorkflowCancelRequested | ev.ChildWorkflowCompleted
                  | ev.ChildWorkflowFailed | ev.ChildWorkflowCancelled | Query)


class EngineHandle(Protocol):
    def resolve_workflow(self, workflow_id: str) -> Residency:
        """Where the workflow lives (a non-resident run is not woken by asking)."""

    def deliver_workflow_message(self, workflow_id: str, message: MailboxMessage) -> concurrent.futures.Future:
        """Record the message (except a Query), then deliver it, waking a non-resident run.

        The future resolves once it is recorded (a Query: with the answer), or
        fails with `WorkflowNotFound` / `NotRunning` and nothing recorded.
        """

    def spawn_child_workflow(self, parent_id: str, child_id: str, workflow_type: str, input: Payload,
                             parent_run_id: str | None = None) -> None:
        """Start a child under the id already recorded in the parent's ChildWorkflowStarted.

        `parent_run_id`: the parent's run that recorded it; another run of the parent using a
        child id that is taken gets `ChildWorkflowStartFailed`, as any other workflow would.
        """

    def terminate_linked_child_workflow(self, parent_id: str, child_id: str, reason: str) -> None:
        """Cancel a child the parent no longer waits for (its close policy says so)."""

    def terminate_linked_activity(self, workflow_id: str, activity_id: int, reason: str) -> None:
        """Stop a running activity attempt of the workflow."""

    def arm_timer(self, workflow_id: str, timer_id: str, fire_at: datetime) -> None:
        """Put a recorded timer on the engine's heap."""

    def disarm_timer(self, workflow_id: str, timer_id: str | None) -> None:
        """Take a timer (None: every timer of the workflow) off the heap."""


@dataclass
class RecordingEngineHandle:
    """A fake `EngineHandle` for unit tests: records every call in order.

    `residency` answers `resolve_workflow`; deliveries resolve
    at once with None unless `refuse` maps a workflow id to an error.
    """

    residency: dict[str, Residency] = field(default_factory=dict)
    refuse: dict[str, BaseException] = field(default_factory=dict)
    calls: list[tuple] = field(default_factory=list)

    def _done(self, workflow_id: str, value: Any = None) -> concurrent.futures.Future:
        future: concurrent.futures.Future = concurrent.futures.Future()
        if workflow_id in self.refuse:
            future.set_exception(self.refuse[workflow_id])
        else:
            future.set_result(value)
        return future

    def resolve_workflow(self, workflow_id):
        self.calls.append(("resolve_workflow", workflow_id))
        return self.residency.get(workflow_id, Residency.UNKNOWN)

    def deliver_workflow_message(self, workflow_id, message):
        self.calls.append(("deliver_workflow_message", workflow_id, message))
        return self._done(workflow_id)

    def spawn_child_workflow(self, parent_id, child_id, workflow_type, input, parent_run_id=None):
        self.calls.append(("spawn_child_workflow", parent_id, child_id, workflow_type, input))

    def terminate_linked_child_workflow(self, parent_id, child_id, reason):
        self.calls.append(("terminate_linked_child_workflow", parent_id, child_id, reason))

    def terminate_linked_activity(self, workflow_id, activity_id, reason):
        self.calls.append(("terminate_linked_activity", workflow_id, activity_id, reason))

    def arm_timer(self, workflow_id, timer_id, fire_at):
        self.calls.append(("arm_timer", workflow_id, timer_id, fire_at))

    def disarm_timer(self, workflow_id, timer_id):
        self.calls.append(("disarm_timer", workflow_id, timer_id))
