"""The `EventStore` contract.

A store keeps, per workflow, an append-only history of opaque event records
plus a small row of metadata (type, status, open/closed, run count) that the
caller computes and hands over with each append. The store never interprets
event payloads: that keeps it independent of workflows, and lets a user plug
in a store of their own as long as it passes `stores.conformance`.

Rules every implementation follows (the conformance suite checks each):

- `append_batch` applies each `Append` atomically: all its events or none.
  Appends in one batch share one transaction where the backend allows it
  (group commit) but succeed or fail independently.
- `expected_seq` is the last seq the writer has seen; 0 creates the
  workflow. A stale value raises/returns `SequenceConflict` and writes
  nothing. Events must carry seqs `expected_seq + 1, +2, ...`.
- Sequences are 1-based and contiguous; `recorded_at` is timezone-aware UTC.
- Timer rows live beside the history: an append may set or clear timers in
  the same transaction as its events.
- A row that cannot be read back faithfully raises `StoreError` naming the
  workflow and seq.
- The request inbox is a queue beside the histories: `claim_requests` hands
  each request to exactly one claimer, even across processes; an answered
  request is deleted the first time `get_request` returns it, and
  `withdraw_request` deletes only a request nobody claimed.
"""

from __future__ import annotations

import abc
import zlib
from dataclasses import dataclass
from datetime import datetime
from typing import Sequence

from .errors import SequenceConflict, StoreError


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One history record as it crosses the store boundary."""

    workflow_id: str
    seq: int
    run_id: str
    type: str
    recorded_at: datetime
    data: bytes


@dataclass(frozen=True, slots=True)
class WorkflowState:
    """The projection the caller computed after an append's events.

    `closed` marks a terminal status: the store sets `closed_at` to the
    `recorded_at` of the append's last event and drops the workflow from
    `list_active`.
    """

    workflow_type: str
    status: str
    closed: bool = False


@dataclass(frozen=True, slots=True)
class TimerRow:
    workflow_id: str
    timer_id: str
    fire_at: datetime


@dataclass(frozen=True, slots=True)
class Append:
    """One workflow's share of a group commit."""

    workflow_id: str
    expected_seq: int
    events: tuple[StoredEvent, ...]
    state: WorkflowState | None = None
    schedule_timers: tuple[TimerRow, ...] = ()
    cancel_timers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class WorkflowSummary:
    workflow_id: str
    workflow_type: str
    status: str
    started_at: datetime
    closed_at: datetime | None
    run_count: int
    last_seq: int


@dataclass(frozen=True, slots=True)
class RunSummary:
    """One run of a workflow's chain (continue-as-new starts the next)."""

    run_id: str
    first_seq: int
    last_seq: int
    started_at: datetime
    last_recorded_at: datetime


@dataclass(frozen=True, slots=True)
class WorkflowFilter:
    """Filters of `EventStore.query`; `None` means any.

    Time bounds are inclusive; results come newest-started first.
    """

    workflow_type: str | None = None
    status: str | Sequence[str] | None = None
    started_after: datetime | None = None
    started_before: datetime | None = None
    closed_after: datetime | None = None
    closed_before: datetime | None = None
    limit: int | None = None
    offset: int = 0

    def statuses(self) -> tuple[str, ...] | None:
        if self.status is None:
            return None
        if isinstance(self.status, str):
            return (self.status,)
        return tuple(self.status)


@dataclass(frozen=True, slots=True)
class Request:
    """One entry of the request inbox: a command for whoever serves the workflows.

    The store keeps `kind` and `body` opaque, as it does event data; the
    engine's request server and the `aion` CLI agree on their meaning.
    """

    id: int
    kind: str
    workflow_id: str | None
    body: bytes
    created_at: datetime
    claimed_by: str | None = None
    answered: bool = False
    reply: bytes | None = None
    error: str | None = None


class EventStore(abc.ABC):
    """Durable histories, workflow metadata and timers."""

    # -- writing ---------------------------------------------------------

    @abc.abstractmethod
    def append_batch(self, appends: Sequence[Append]) -> list[SequenceConflict | None]:
        """Apply appends for many workflows, ideally in one transaction.

        Returns, per append in order, `None` when it was written or the
        `SequenceConflict` that refused it (nothing of it written). Malformed
        input (non-contiguous seqs, events of another workflow, no state on
        create) raises `StoreError` before anything is written.
        """

    def append(self, workflow_id: str, events: Sequence[StoredEvent], expected_seq: int,
               state: WorkflowState | None = None, *, schedule_timers: Sequence[TimerRow] = (),
               cancel_timers: Sequence[str] = ()) -> int:
        """Append one workflow's events atomically; return the new last seq.

        Raises `SequenceConflict` when `expected_seq` is stale.
        """
        (outcome,) = self.append_batch([Append(workflow_id, expected_seq, tuple(events), state,
                                               tuple(schedule_timers), tuple(cancel_timers))])
        if outcome is not None:
            raise outcome
        return expected_seq + len(events)

    # -- reading ---------------------------------------------------------

    def read_history(self, workflow_id: str) -> list[StoredEvent]:
        """The whole history in seq order; `[]` for an unknown workflow."""
        return self.read_history_from(workflow_id, 1)

    @abc.abstractmethod
    def read_history_from(self, workflow_id: str, from_seq: int) -> list[StoredEvent]:
        """Events with `seq >= from_seq`, in order."""

    @abc.abstractmethod
    def read_run_chain(self, workflow_id: str) -> list[RunSummary]:
        """The runs of a workflow in the order they started."""

    @abc.abstractmethod
    def get_summary(self, workflow_id: str) -> WorkflowSummary | None:
        """The metadata row of one workflow, or `None` when unknown."""

    @abc.abstractmethod
    def list_workflow_ids(self) -> list[str]:
        """Every workflow id, in creation order."""

    @abc.abstractmethod
    def list_active(self) -> list[WorkflowSummary]:
        """Workflows not closed (running, paused, continuing), oldest first."""

    @abc.abstractmethod
    def query(self, filter: WorkflowFilter = WorkflowFilter()) -> list[WorkflowSummary]:
        """Summaries matching every given filter, newest-started first."""

    # -- timers ----------------------------------------------------------

    @abc.abstractmethod
    def schedule_timer(self, workflow_id: str, timer_id: str, fire_at: datetime) -> None:
        """Insert the timer, or replace its `fire_at` when it exists."""

    @abc.abstractmethod
    def cancel_timer(self, workflow_id: str, timer_id: str) -> None:
        """Remove the timer; removing an absent one is not an error."""

    @abc.abstractmethod
    def expired_timers(self, as_of: datetime) -> list[TimerRow]:
        """Timers with `fire_at <= as_of`, earliest first."""

    @abc.abstractmethod
    def next_timer_due(self) -> datetime | None:
        """The earliest `fire_at` of all timers, or `None`."""

    @abc.abstractmethod
    def timers_of(self, workflow_id: str) -> list[TimerRow]:
        """The pending timers of one workflow, earliest first."""

    # -- the request inbox -----------------------------------------------

    @abc.abstractmethod
    def put_request(self, kind: str, workflow_id: str | None, body: bytes) -> int:
        """Queue a request (unclaimed, unanswered); return its id."""

    @abc.abstractmethod
    def claim_requests(self, claimer: str, limit: int) -> list[Request]:
        """Mark up to `limit` unclaimed requests as `claimer`'s and return them, oldest first.

        Atomic: two claimers, in any threads or processes, never get the same request.
        """

    @abc.abstractmethod
    def answer_request(self, request_id: int, reply: bytes | None = None, error: str | None = None) -> bool:
        """Store the outcome of a claimed request; False when it no longer exists."""

    @abc.abstractmethod
    def get_request(self, request_id: int) -> Request | None:
        """The request as it stands, or None. An answered one is deleted as it is returned."""

    @abc.abstractmethod
    def withdraw_request(self, request_id: int) -> bool:
        """Delete the request if nobody has claimed it yet; True when it was deleted."""

    @abc.abstractmethod
    def prune_requests(self, created_before: datetime) -> int:
        """Delete requests created before that instant, whatever their state; return how many.

        They are left-overs: a client that gave up, or a server that died holding them.
        """

    # -- lifecycle -------------------------------------------------------

    def close(self) -> None:
        """Release connections. The store is unusable afterwards."""

    def __enter__(self) -> "EventStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_append(append: Append) -> None:
    """The validation every store applies before writing (one validator, one place)."""
    if append.expected_seq < 0:
        raise StoreError(f"expected_seq must be >= 0, got {append.expected_seq}")
    if not append.events:
        raise StoreError(f"append to workflow {append.workflow_id!r} has no events")
    for offset, event in enumerate(append.events, start=1):
        if event.workflow_id != append.workflow_id:
            raise StoreError(
                f"event seq {event.seq} belongs to workflow {event.workflow_id!r}, "
                f"not {append.workflow_id!r}"
            )
        if event.seq != append.expected_seq + offset:
            raise StoreError(
                f"non-contiguous append to workflow {append.workflow_id!r}: event {offset} has seq "
                f"{event.seq}, expected {append.expected_seq + offset}"
            )
        if event.recorded_at.tzinfo is None:
            raise StoreError(f"event seq {event.seq} of {append.workflow_id!r} has a naive recorded_at")
    if append.expected_seq == 0 and append.state is None:
        raise StoreError(f"creating workflow {append.workflow_id!r} needs a WorkflowState")
    for timer in append.schedule_timers:
        if timer.workflow_id != append.workflow_id:
            raise StoreError(f"timer {timer.timer_id!r} belongs to {timer.workflow_id!r}, not {append.workflow_id!r}")
        if timer.fire_at.tzinfo is None:
            raise StoreError(f"timer {timer.timer_id!r} has a naive fire_at")


def checksum(data: bytes) -> int:
    """CRC32 kept beside each event so a damaged row is caught on read."""
    return zlib.crc32(data)


def verify(event: StoredEvent, stored_checksum: int | None) -> StoredEvent:
    if stored_checksum is None or not isinstance(event.data, (bytes, bytearray)) or checksum(bytes(event.data)) != stored_checksum:
        raise StoreError(
            f"event seq {event.seq} of workflow {event.workflow_id!r} is corrupted "
            f"(checksum mismatch); restore the store from a backup"
        )
    return event


def check_request(kind: object, workflow_id: object, body: object) -> None:
    if not isinstance(kind, str) or not kind:
        raise StoreError(f"a request kind must be a non-empty string, got {kind!r}")
    if workflow_id is not None and not isinstance(workflow_id, str):
        raise StoreError(f"a request's workflow id must be a string or None, got {workflow_id!r}")
    if not isinstance(body, (bytes, bytearray)):
        raise StoreError(f"a request body must be bytes, got {type(body).__name__}")


def check_claim(claimer: object, limit: object) -> None:
    if not isinstance(claimer, str) or not claimer:
        raise StoreError(f"a claimer must be a non-empty string, got {claimer!r}")
    if type(limit) is not int or limit < 1:
        raise StoreError(f"a claim limit must be an int >= 1, got {limit!r}")
