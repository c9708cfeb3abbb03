"""The closed vocabulary of errors users see.

Every error a user can cause is an `AionError` with structured fields and a
message that says what to do. The one deliberate exception is
`CancelledError`: it derives from `asyncio.CancelledError` (a
`BaseException`) so that `except Exception` in workflow code cannot swallow a
cancellation, and so that asyncio's own gather/wait_for/TaskGroup machinery
treats it as the cancellation it is.
"""

from __future__ import annotations

import asyncio
import traceback
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import stores.errors as _store_errors

if TYPE_CHECKING:
    from .payload import Payload


class AionError(Exception):
    """Base of every error aion_actors raises on purpose."""


@dataclass(frozen=True, slots=True)
class Failure:
    """A recorded failure: what was raised, where, and whether to retry it.

    `details` are the encoded `ApplicationError` details; errors that carry a
    `Failure` (`ActivityError`, `WorkflowFailed`) decode them as `.details`.
    """

    type: str
    message: str
    traceback: str = ""
    non_retryable: bool = False
    details: tuple[Payload, ...] = ()

    @classmethod
    def from_exception(cls, exc: BaseException) -> Failure:
        """What is recorded of an exception: an `ApplicationError` keeps its type, retryability and details."""
        trace = "".join(traceback.format_exception(exc))
        if isinstance(exc, ApplicationError):
            return cls(exc.type or "ApplicationError", exc.message, trace, exc.non_retryable, exc.encoded_details)
        return cls(type(exc).__name__, str(exc), trace)

    def decoded_details(self) -> tuple[Any, ...]:
        from .converter import decode_value  # the converter itself raises errors from this module

        return tuple(decode_value(p, Any) for p in self.details)

    def __str__(self) -> str:
        return f"{self.type}: {self.message}"


class InvalidArgument(AionError, ValueError):
    """An argument given by the user is not usable (the message says which and why)."""


class WorkflowNotFound(AionError):
    def __init__(self, workflow_id: str) -> None:
        self.workflow_id = workflow_id
        super().__init__(f"workflow {workflow_id!r} not found (check the id, or the store URL)")

    def __reduce__(self):
        return (type(self), (self.workflow_id,))


class WorkflowAlreadyExists(AionError):
    def __init__(self, workflow_id: str) -> None:
        self.workflow_id = workflow_id
        super().__init__(
            f"workflow {workflow_id!r} already exists; pick another id or use "
            f"engine.get_handle({workflow_id!r}) to reach it"
        )

    def __reduce__(self):
        return (type(self), (self.workflow_id,))


class UnknownWorkflowType(AionError):
    def __init__(self, workflow_type: str, known: tuple[str, ...] = ()) -> None:
        self.workflow_type = workflow_type
        self.known = tuple(known)
        hint = f"; registered: {', '.join(self.known)}" if self.known else ""
        super().__init__(
            f"unknown workflow type {workflow_type!r}: pass it in Engine(workflows=[...]){hint}"
        )

    def __reduce__(self):
        return (type(self), (self.workflow_type, self.known))


class WorkflowFailed(AionError):
    """The run ended in failure; `.cause` is the recorded `Failure`."""

    def __init__(self, workflow_id: str, cause: Failure) -> None:
        self.workflow_id = workflow_id
        self.cause = cause
        super().__init__(f"workflow {workflow_id!r} failed: {cause}")

    @property
    def details(self) -> tuple[Any, ...]:
        """The details of the `ApplicationError` that failed the run, decoded (plain data)."""
        return self.cause.decoded_details()

    def __reduce__(self):
        return (type(self), (self.workflow_id, self.cause))


class WorkflowCancelled(AionError):
    def __init__(self, workflow_id: str, reason: str = "", terminated: bool = False) -> None:
        self.workflow_id = workflow_id
        self.reason = reason
        self.terminated = terminated
        how = "terminated" if terminated else "cancelled"
        super().__init__(f"workflow {workflow_id!r} was {how}" + (f": {reason}" if reason else ""))

    def __reduce__(self):
        return (type(self), (self.workflow_id, self.reason, self.terminated))


class WorkflowTimedOut(AionError):
    def __init__(self, workflow_id: str, timeout: float | None = None) -> None:
        self.workflow_id = workflow_id
        self.timeout = timeout
        super().__init__(f"workflow {workflow_id!r} timed out" + (f" after {timeout}s" if timeout else ""))

    def __reduce__(self):
        return (type(self), (self.workflow_id, self.timeout))


class CancelledError(asyncio.CancelledError):
    """Raised at a workflow's current await when its cancellation is requested.

    A `BaseException`: catch it explicitly (or use `finally`) to run cleanup
    and compensation; the run then ends Cancelled unless it returns a value.
    """

    def __init__(self, reason: str = "") -> None:
        self.reason = reason
        super().__init__(reason or "cancelled")


class ActivityCancelled(CancelledError):
    """Raised inside activity code, at `activity.heartbeat()`, once the engine no longer wants the attempt.

    The workflow was cancelled, the activity lost a `race`, its `with_timeout`
    scope expired, or the attempt timed out. Like `CancelledError` (its base)
    it is a `BaseException`, so `except Exception` in activity code does not
    swallow it; an `async def` activity's task is cancelled as well. Let it
    propagate, or clean up and re-raise: nothing the attempt returns or raises
    afterwards is recorded. An attempt in a process of its own that keeps
    running is killed after `Engine(activity_cancel_grace=...)` seconds.
    """


class NotRunning(AionError):
    def __init__(self, workflow_id: str, status: str) -> None:
        self.workflow_id = workflow_id
        self.status = status
        super().__init__(f"workflow {workflow_id!r} is not running (status {status}); nothing was recorded")

    def __reduce__(self):
        return (type(self), (self.workflow_id, self.status))


class UnknownQuery(AionError):
    def __init__(self, workflow_id: str, name: str, known: tuple[str, ...] = ()) -> None:
        self.workflow_id = workflow_id
        self.name = name
        self.known = tuple(known)
        hint = f"; it has: {', '.join(self.known)}" if self.known else "; it has registered none"
        super().__init__(f"workflow {workflow_id!r} has no query handler {name!r}{hint}")

    def __reduce__(self):
        return (type(self), (self.workflow_id, self.name, self.known))


class QueryFailed(AionError):
    def __init__(self, workflow_id: str, name: str, message: str) -> None:
        self.workflow_id = workflow_id
        self.name = name
        self.message = message
        super().__init__(f"query {name!r} on workflow {workflow_id!r} failed: {message}")

    def __reduce__(self):
        return (type(self), (self.workflow_id, self.name, self.message))


class QueryTimeout(AionError):
    def __init__(self, workflow_id: str, name: str, timeout: float) -> None:
        self.workflow_id = workflow_id
        self.name = name
        self.timeout = timeout
        super().__init__(
            f"query {name!r} on workflow {workflow_id!r} got no answer within {timeout}s "
            f"(is an engine serving this workflow?)"
        )

    def __reduce__(self):
        return (type(self), (self.workflow_id, self.name, self.timeout))


class NoWorkerAnswered(AionError):
    """A request put in the store's inbox got no answer in time.

    `claimed` False: no engine serving requests took it within `timeout`, so
    it was withdrawn and nothing was recorded. True: a server took it but
    had not answered yet; it may still take effect.
    """

    def __init__(self, timeout: float, claimed: bool = False, workflow_id: str | None = None) -> None:
        self.timeout = timeout
        self.claimed = claimed
        self.workflow_id = workflow_id
        if claimed:
            check = f" (check with: aion describe {workflow_id})" if workflow_id else ""
            message = (f"a worker took the request but did not answer within {timeout:g}s; "
                       f"it may still take effect{check}")
        else:
            message = (f"no worker answered within {timeout:g}s (start one with: aion worker FILE); "
                       f"nothing was recorded")
        super().__init__(message)

    def __reduce__(self):
        return (type(self), (self.timeout, self.claimed, self.workflow_id))


class NonDeterminismError(AionError):
    """Workflow code issued a command that does not match its recorded history."""

    def __init__(self, workflow_id: str, seq: int, expected: str, found: str) -> None:
        self.workflow_id = workflow_id
        self.seq = seq
        self.expected = expected
        self.found = found
        super().__init__(
            f"non-determinism in workflow {workflow_id!r} at history seq {seq}: history has "
            f"{expected}, code issued {found}. Workflow code changed under a running workflow; "
            f"guard the change with workflow.patched()"
        )

    def __reduce__(self):
        return (type(self), (self.workflow_id, self.seq, self.expected, self.found))


class ApplicationError(AionError):
    """Raise from activity or workflow code to fail with a chosen message.

    `non_retryable=True` stops an activity's retries whatever its policy.
    `details` are recorded with the failure (encoded like any payload) and
    come back, on replay too, as `.details` of the `ActivityError` or
    `WorkflowFailed` that reports it. Raises `PayloadError` at once if a
    detail cannot be encoded.
    """

    def __init__(self, message: str, *details: object, type: str | None = None,
                 non_retryable: bool = False) -> None:
        from .converter import encode_value  # the converter itself raises errors from this module

        self.message = message
        self.details = details
        self.encoded_details = tuple(encode_value(d) for d in details)
        self.type = type
        self.non_retryable = non_retryable
        super().__init__(message)

    def __reduce__(self):
        return (_rebuild_application_error, (self.message, self.details, self.type, self.non_retryable))


def _rebuild_application_error(message, details, type_, non_retryable):
    return ApplicationError(message, *details, type=type_, non_retryable=non_retryable)


class ActivityError(AionError):
    """An activity failed for good (retries exhausted, non-retryable, timed out, cancelled).

    Raised inside workflow code at the `execute_activity` await; `.cause` is
    the recorded `Failure` of the last attempt.
    """

    def __init__(self, activity_type: str, activity_id: int, cause: Failure, attempts: int = 1) -> None:
        self.activity_type = activity_type
        self.activity_id = activity_id
        self.cause = cause
        self.attempts = attempts
        super().__init__(
            f"activity {activity_type!r} (#{activity_id}) failed after {attempts} "
            f"attempt{'s' if attempts != 1 else ''}: {cause}"
        )

    @property
    def details(self) -> tuple[Any, ...]:
        """The details of the `ApplicationError` the last attempt raised, decoded (plain data)."""
        return self.cause.decoded_details()

    def __reduce__(self):
        return (type(self), (self.activity_type, self.activity_id, self.cause, self.attempts))


class PayloadError(AionError, TypeError):
    """A value cannot be encoded or decoded as a payload. Nothing was recorded."""


class StoreError(AionError, _store_errors.StoreError):
    """The event store failed or refused (see the message)."""


class SequenceConflict(StoreError, _store_errors.SequenceConflict):
    """A second writer appended to the same workflow; the append was refused."""


class ShardMoved(StoreError):
    """The workflow's shard is owned by another node (or was taken over meanwhile).

    Raised inside the engine only: a client call that meets it is sent to the
    shard's owner through the store's request inbox instead.
    """

    def __init__(self, workflow_id: str) -> None:
        self.workflow_id = workflow_id
        super().__init__(f"workflow {workflow_id!r} belongs to a shard another node owns")

    def __reduce__(self):
        return (type(self), (self.workflow_id,))


class NoTaskQueues(AionError):
    """The store has no task queues: it does not implement `stores.TaskQueues`.

    The bundled stores (`sqlite:`, `postgresql+psycopg:`, `memory:`) all do;
    a store of one's own must implement `TaskQueues` before activities can be
    put on named queues or `aion queues` can show them.
    """

    def __init__(self, store: str) -> None:
        self.store = store
        super().__init__(
            f"store {store} keeps no task queues (it does not implement stores.TaskQueues); use a bundled "
            f"store (sqlite:///path.db or postgresql+psycopg://...) or implement TaskQueues in yours and check it "
            f"with stores.conformance_tasks.TaskQueuesConformance"
        )

    def __reduce__(self):
        return (type(self), (self.store,))


def translate_store_error(exc: _store_errors.StoreError) -> StoreError:
    """Map a store-layer error to the engine's hierarchy (kept catchable as both)."""
    if isinstance(exc, StoreError):
        return exc
    if isinstance(exc, _store_errors.SequenceConflict):
        return SequenceConflict(exc.workflow_id, exc.expected, exc.found)
    if isinstance(exc, _store_errors.StaleFence):
        return ShardMoved(exc.workflow_id)
    return StoreError(str(exc))
