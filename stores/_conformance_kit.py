"""What the `EventStore` conformance tests share: fixed instants, event builders, the hooks.

Private to `stores.conformance`, which assembles the suite.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest

from .base import EventStore, StoredEvent, TimerRow, WorkflowState, WorkflowSummary

UTC = timezone.utc
T0 = datetime(2024, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
US = timedelta(microseconds=1)
RUNNING = WorkflowState("order", "running")


def at(seconds: float) -> datetime:
    """A fixed instant `seconds` after T0 (microsecond precision kept)."""
    return T0 + timedelta(seconds=seconds)


def event_data(workflow_id: str, seq: int, run_id: str) -> bytes:
    # Not valid UTF-8 and contains NUL: a store must keep data as raw bytes.
    return b"\x00\xff" + f"{workflow_id}/{run_id}/{seq}".encode() + b"\x80"


def make_events(workflow_id: str, start_seq: int, n: int, run_id: str = "r1", *,
                start: datetime | None = None, type: str = "step") -> tuple[StoredEvent, ...]:
    """`n` events with seqs `start_seq..start_seq+n-1`, one millisecond (+1µs) apart.

    By default event `seq` is recorded at `T0 + seq * 1.001ms`, so histories
    built in several appends stay monotonic.
    """
    events = []
    for seq in range(start_seq, start_seq + n):
        when = (start + (seq - start_seq) * timedelta(microseconds=1001)) if start is not None \
            else T0 + seq * timedelta(microseconds=1001)
        events.append(StoredEvent(workflow_id, seq, run_id, type, when, event_data(workflow_id, seq, run_id)))
    return tuple(events)


def create(store: EventStore, workflow_id: str, *, n: int = 1, start: datetime | None = None,
           state: WorkflowState = RUNNING, run_id: str = "r1") -> tuple[StoredEvent, ...]:
    """Create a workflow with `n` events; returns them."""
    events = make_events(workflow_id, 1, n, run_id, start=start)
    assert store.append(workflow_id, events, 0, state) == n
    return events


def schedule(store: EventStore, workflow_id: str, *timers: TimerRow, cancel: tuple[str, ...] = ()) -> None:
    """Change a workflow's timers the one way the contract offers: with an append of one more event."""
    last = store.get_summary(workflow_id).last_seq
    store.append(workflow_id, make_events(workflow_id, last + 1, 1), last, schedule_timers=timers,
                 cancel_timers=cancel)


class StoreFixture:
    """The `store` fixture of every conformance suite: `make_store(tmp_path)`, closed after the test."""

    def make_store(self, tmp_path: Path) -> Any:
        """A fresh, empty store. Called once per test."""
        raise NotImplementedError

    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[Any]:
        store = self.make_store(tmp_path)
        try:
            yield store
        finally:
            store.close()


class StoreCase(StoreFixture):
    """The hooks an `EventStore` suite provides."""

    # -- hooks -------------------------------------------------------------

    def store_url(self, tmp_path: Path) -> str | None:
        """A URL `stores.open_store` opens, from another OS process, as the
        same database `make_store(tmp_path)` returned; `None` when the store
        cannot be shared across processes (those tests are skipped)."""
        return None

    def corrupt_event(self, store: EventStore, workflow_id: str, seq: int) -> None:
        """Damage the stored record of one event (its bytes, in a store-specific way)."""
        raise NotImplementedError

    # -- helpers ---------------------------------------------------------------

    @staticmethod
    def ids(summaries: list[WorkflowSummary]) -> list[str]:
        return [s.workflow_id for s in summaries]

    @staticmethod
    def snapshot(store: EventStore, workflow_id: str):
        return (store.read_history(workflow_id), store.get_summary(workflow_id),
                store.read_run_chain(workflow_id), store.timers_of(workflow_id))
