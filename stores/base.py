"""The `EventStore` contract: what the engine needs from a store, and nothing more.

A store keeps, per workflow, an append-only history of opaque event records,
a small row of metadata (type, status, open/closed, run count) that the
caller computes and hands over with each append, and the workflow's pending
timers. The store never interprets event payloads: that keeps it independent
of workflows, and lets a user plug in a store of their own as long as it
passes `stores.conformance.EventStoreConformance`.

The records crossing the boundary (`StoredEvent`, `WorkflowState`,
`TimerRow`, `Append`, `WorkflowSummary`, `RunSummary`, `WorkflowFilter`) are
frozen dataclasses; a store hands out fresh lists, never its own. The request
inbox the `aion` CLI talks through is a separate contract,
`stores.inbox.RequestInbox`.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from datetime import datetime
from typing import Sequence

from .errors import SequenceConflict, StaleFence


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
    """A pending durable timer; `timer_id` is unique within its workflow, `fire_at` is aware."""

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
    # (shard, token): written only while the shard's fencing token is still `token`
    # (`stores.leases.ShardLeases`); None writes regardless, as a one-node engine does.
    fence: tuple[int, int] | None = None


@dataclass(frozen=True, slots=True)
class WorkflowSummary:
    """A workflow's metadata row, as `get_summary`, `list_active` and `query` return it."""

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
        """The accepted statuses as a tuple (one string is one status), or `None` for any."""
        if self.status is None:
            return None
        if isinstance(self.status, str):
            return (self.status,)
        return tuple(self.status)


class EventStore(abc.ABC):
    """Durable histories, workflow metadata and timers.

    Implement the abstract methods; `append`, `read_history` and the context
    manager are built on them. Every method may raise `StoreError` when the
    backend fails (translated from the driver's error with `raise ... from`,
    so the cause stays attached). A closed store is not used again.
    Methods may be called from several threads at once.
    """

    # -- writing ---------------------------------------------------------

    @abc.abstractmethod
    def append_batch(self, appends: Sequence[Append]) -> list[SequenceConflict | StaleFence | None]:
        """Apply appends for many workflows, ideally in one transaction (group commit).

        Each `Append` is atomic: its events, its `state` and its timer changes
        are all written, or none of them is. Appends succeed or fail
        independently of each other, and several appends to one workflow in
        one batch apply in batch order (the second sees the first's seqs).

        The `expected_seq` rule: it is the last seq the writer has seen, 0 to
        create the workflow. The append is written only when it equals the
        stored last seq (and, for 0, when the workflow does not exist yet);
        otherwise it is refused with `SequenceConflict(workflow_id, expected,
        found)`, `found` being the stored last seq (0 for an unknown
        workflow). Two writers racing on the same `expected_seq`, in threads
        or processes, get exactly one winner.

        The fence rule (stores that also implement `ShardLeases`): an append
        with `fence=(shard, token)` is written only when `token` is the
        shard's current fencing token, read in the same transaction;
        otherwise it is refused with `StaleFence(workflow_id, shard, token,
        current)` before its `expected_seq` is looked at. An append without
        a fence is not checked.

        On a written append the store: stores its events (seqs
        `expected_seq + 1, +2, ...`, 1-based and contiguous) so that reads
        return them equal, `recorded_at` in UTC and `data` as `bytes`; applies
        its `state` (none keeps the row as it is), setting `closed_at` to the
        `recorded_at` of its last event when `state.closed`; counts a new run
        whenever an event's `run_id` differs from the previous event's; then
        removes the `cancel_timers` (absent ones ignored) and inserts or
        replaces the `schedule_timers`.

        Args:
            appends: the appends, in the order they apply.

        Returns:
            Per append, in order: `None` when it was written, or the
            `SequenceConflict` or `StaleFence` that refused it.

        Raises:
            StoreError: malformed input (events not numbered from
                `expected_seq + 1`, events or timers of another workflow,
                naive datetimes, no events, no `state` on create, a fence
                whose shard is not the workflow's `shard_of`), before
                anything of the batch is written.
        """

    def append(self, workflow_id: str, events: Sequence[StoredEvent], expected_seq: int,
               state: WorkflowState | None = None, *, schedule_timers: Sequence[TimerRow] = (),
               cancel_timers: Sequence[str] = (), fence: tuple[int, int] | None = None) -> int:
        """Append one workflow's events atomically (a batch of one); return the new last seq.

        Raises:
            SequenceConflict: `expected_seq` is stale; nothing was written.
            StaleFence: `fence` is stale; nothing was written.
            StoreError: as `append_batch`.
        """
        (outcome,) = self.append_batch([Append(workflow_id, expected_seq, tuple(events), state,
                                               tuple(schedule_timers), tuple(cancel_timers), fence)])
        if outcome is not None:
            raise outcome
        return expected_seq + len(events)

    # -- reading ---------------------------------------------------------

    def read_history(self, workflow_id: str) -> list[StoredEvent]:
        """The whole history in seq order; `[]` for an unknown workflow."""
        return self.read_history_from(workflow_id, 1)

    @abc.abstractmethod
    def read_history_from(self, workflow_id: str, from_seq: int) -> list[StoredEvent]:
        """The events with `seq >= from_seq`, in seq order.

        `[]` for an unknown workflow or a `from_seq` past the end; a
        `from_seq` below 1 reads from the first event.

        Raises:
            StoreError: a returned row cannot be read back as written
                (checksum mismatch, damaged columns); the message names the
                workflow and the seq.
        """

    @abc.abstractmethod
    def read_run_chain(self, workflow_id: str) -> list[RunSummary]:
        """The runs of a workflow (continue-as-new starts the next) in the order they started.

        `[]` for an unknown workflow.
        """

    @abc.abstractmethod
    def get_summary(self, workflow_id: str) -> WorkflowSummary | None:
        """The metadata row of one workflow as of its last append, or `None` when unknown.

        `started_at` is the `recorded_at` of its first event, `last_seq` its
        last event's seq, `run_count` the length of its run chain.
        """

    @abc.abstractmethod
    def list_active(self) -> list[WorkflowSummary]:
        """The workflows whose last `state` was not `closed`, oldest started first.

        Ties on `started_at` break by `workflow_id`. The engine resumes these
        when it starts.
        """

    @abc.abstractmethod
    def query(self, filter: WorkflowFilter = WorkflowFilter()) -> list[WorkflowSummary]:
        """The summaries matching every filter given, newest started first.

        Ties on `started_at` break by `workflow_id`; `offset` skips, then
        `limit` cuts. See `WorkflowFilter` for the bounds.
        """

    # -- timers ----------------------------------------------------------

    @abc.abstractmethod
    def all_timers(self) -> list[TimerRow]:
        """Every pending timer of every workflow, ordered by `(fire_at, workflow_id, timer_id)`.

        Timers are only changed by appends (`Append.schedule_timers` /
        `cancel_timers`); reading them removes nothing. The engine loads them
        all into its timer wheel when it starts, due or not.
        """

    @abc.abstractmethod
    def timers_of(self, workflow_id: str) -> list[TimerRow]:
        """The pending timers of one workflow, ordered by `(fire_at, timer_id)`; `[]` when none."""

    # -- lifecycle -------------------------------------------------------

    def close(self) -> None:
        """Release connections; the store is unusable afterwards. Closing twice is harmless."""

    def __enter__(self) -> "EventStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
