"""A pytest suite every `EventStore` must pass.

Subclass `EventStoreConformance` in a test module (give the subclass a name
starting with `Test` so pytest collects it) and provide the hooks::

    from stores.conformance import EventStoreConformance

    class TestMyStore(EventStoreConformance):
        def make_store(self, tmp_path):
            return MyStore(tmp_path / "db")

        def store_url(self, tmp_path):
            return None  # or a URL `stores.url.open_store` opens in another process

        def corrupt_event(self, store, workflow_id, seq):
            ...  # damage the stored bytes of that event

Each test gets a fresh, empty store from `make_store` and closes it at the
end. Timestamps are fixed UTC datetimes, so results are deterministic.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import pytest

from .base import (
    Append,
    EventStore,
    RunSummary,
    StoredEvent,
    TimerRow,
    WorkflowFilter,
    WorkflowState,
    WorkflowSummary,
)
from .errors import SequenceConflict, StoreError

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


class EventStoreConformance:
    """Behaviours every `EventStore` shares. Not collected by itself (no `Test` prefix)."""

    # -- hooks -------------------------------------------------------------

    def make_store(self, tmp_path: Path) -> EventStore:
        """A fresh, empty store. Called once per test."""
        raise NotImplementedError

    def store_url(self, tmp_path: Path) -> str | None:
        """A URL `stores.url.open_store` opens, from another OS process, as the
        same database `make_store(tmp_path)` returned; `None` when the store
        cannot be shared across processes (those tests are skipped)."""
        return None

    def corrupt_event(self, store: EventStore, workflow_id: str, seq: int) -> None:
        """Damage the stored record of one event (its bytes, in a store-specific way)."""
        raise NotImplementedError

    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[EventStore]:
        store = self.make_store(tmp_path)
        try:
            yield store
        finally:
            store.close()

    # -- snapshot helper -----------------------------------------------------

    @staticmethod
    def snapshot(store: EventStore, workflow_id: str):
        return (store.read_history(workflow_id), store.get_summary(workflow_id),
                store.read_run_chain(workflow_id), store.timers_of(workflow_id))

    # -- appending and reading back -----------------------------------------

    def test_round_trip_keeps_every_field(self, store: EventStore) -> None:
        recorded = datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=UTC)
        events = (
            StoredEvent("wf-1", 1, "run-a", "WorkflowStarted", recorded, bytes(range(256))),
            StoredEvent("wf-1", 2, "run-a", "Empty", recorded + US, b""),
            StoredEvent("wf-1", 3, "run-a", "Unicode-типа ✓", recorded + 2 * US, b"\x00" * 5000),
        )
        assert store.append("wf-1", events, 0, RUNNING) == 3
        back = store.read_history("wf-1")
        assert back == list(events)
        for event in back:
            assert isinstance(event.data, bytes)
            assert event.recorded_at.tzinfo is not None
            assert event.recorded_at.utcoffset() == timedelta(0)
        assert [e.recorded_at.microsecond for e in back] == [999999, 0, 1]

    def test_recorded_at_in_another_zone_reads_back_as_the_same_instant(self, store: EventStore) -> None:
        plus_two = timezone(timedelta(hours=2))
        event = StoredEvent("wf-1", 1, "r1", "step", datetime(2024, 1, 1, 14, 0, 0, 7, tzinfo=plus_two), b"x")
        store.append("wf-1", [event], 0, RUNNING)
        (back,) = store.read_history("wf-1")
        assert back.recorded_at == datetime(2024, 1, 1, 12, 0, 0, 7, tzinfo=UTC)
        assert back.recorded_at.utcoffset() == timedelta(0)

    def test_bytearray_data_is_stored_as_bytes(self, store: EventStore) -> None:
        data = bytearray(b"mutable")
        store.append("wf-1", [StoredEvent("wf-1", 1, "r1", "step", T0, data)], 0, RUNNING)
        data[:] = b"changed"
        (back,) = store.read_history("wf-1")
        assert back.data == b"mutable" and isinstance(back.data, bytes)

    def test_sequences_continue_across_batches(self, store: EventStore) -> None:
        first = make_events("wf-1", 1, 3)
        second = make_events("wf-1", 4, 3)
        assert store.append("wf-1", first, 0, RUNNING) == 3
        assert store.append("wf-1", second, 3) == 6
        history = store.read_history("wf-1")
        assert [e.seq for e in history] == [1, 2, 3, 4, 5, 6]
        assert history == list(first + second)
        assert store.get_summary("wf-1").last_seq == 6

    def test_reads_return_copies(self, store: EventStore) -> None:
        create(store, "wf-1", n=2)
        store.read_history("wf-1").clear()
        store.query().clear()
        store.read_run_chain("wf-1").clear()
        store.list_active().clear()
        assert len(store.read_history("wf-1")) == 2
        assert self.ids(store.query()) == ["wf-1"]
        assert len(store.read_run_chain("wf-1")) == 1
        assert len(store.list_active()) == 1

    # -- sequence conflicts ----------------------------------------------------

    def test_stale_expected_seq_conflicts_and_writes_nothing(self, store: EventStore) -> None:
        create(store, "wf-1", n=2)
        schedule(store, "wf-1", TimerRow("wf-1", "t-keep", at(60)))  # the third event
        before = self.snapshot(store, "wf-1")
        for stale in (1, 2, 5):
            with pytest.raises(SequenceConflict) as info:
                store.append("wf-1", make_events("wf-1", stale + 1, 2, "r2"), stale,
                             WorkflowState("order", "completed", closed=True),
                             schedule_timers=[TimerRow("wf-1", "t-new", at(1))],
                             cancel_timers=["t-keep"])
            assert (info.value.workflow_id, info.value.expected, info.value.found) == ("wf-1", stale, 3)
            assert self.snapshot(store, "wf-1") == before
        assert store.all_timers() == [TimerRow("wf-1", "t-keep", at(60))]
        assert [s.workflow_id for s in store.list_active()] == ["wf-1"]

    def test_expected_seq_zero_on_existing_workflow_conflicts(self, store: EventStore) -> None:
        create(store, "wf-1", n=2)
        before = self.snapshot(store, "wf-1")
        with pytest.raises(SequenceConflict) as info:
            store.append("wf-1", make_events("wf-1", 1, 1, "other"), 0, WorkflowState("other", "running"))
        assert (info.value.expected, info.value.found) == (0, 2)
        assert self.snapshot(store, "wf-1") == before
        assert self.ids(store.query()) == ["wf-1"]

    def test_expected_seq_on_unknown_workflow_conflicts_with_found_zero(self, store: EventStore) -> None:
        with pytest.raises(SequenceConflict) as info:
            store.append("ghost", make_events("ghost", 3, 1), 2, RUNNING)
        assert (info.value.workflow_id, info.value.expected, info.value.found) == ("ghost", 2, 0)
        assert store.read_history("ghost") == []
        assert store.get_summary("ghost") is None
        assert store.query() == []

    # -- malformed input ---------------------------------------------------------

    @pytest.mark.parametrize("case", [
        "gap", "wrong-first-seq", "duplicate-seq", "other-workflow", "create-without-state",
        "no-events", "negative-expected", "naive-recorded-at", "timer-of-other-workflow",
        "naive-timer",
    ])
    def test_malformed_append_raises_store_error_and_writes_nothing(self, store: EventStore, case: str) -> None:
        create(store, "wf-1", n=2)
        good = Append("wf-2", 0, make_events("wf-2", 1, 1), RUNNING)
        bad = {
            "gap": Append("wf-1", 2, (make_events("wf-1", 3, 1)[0], make_events("wf-1", 5, 1)[0])),
            "wrong-first-seq": Append("wf-1", 2, make_events("wf-1", 4, 2)),
            "duplicate-seq": Append("wf-1", 2, make_events("wf-1", 3, 1) * 2),
            "other-workflow": Append("wf-1", 2, make_events("wf-1", 3, 1) + make_events("wf-9", 4, 1)),
            "create-without-state": Append("wf-3", 0, make_events("wf-3", 1, 2), None),
            "no-events": Append("wf-1", 2, ()),
            "negative-expected": Append("wf-1", -1, make_events("wf-1", 0, 1)),
            "naive-recorded-at": Append("wf-1", 2, (StoredEvent("wf-1", 3, "r1", "step", datetime(2024, 1, 1), b""),)),
            "timer-of-other-workflow": Append("wf-1", 2, make_events("wf-1", 3, 1),
                                              schedule_timers=(TimerRow("wf-9", "t", at(1)),)),
            "naive-timer": Append("wf-1", 2, make_events("wf-1", 3, 1),
                                  schedule_timers=(TimerRow("wf-1", "t", datetime(2024, 1, 1)),)),
        }[case]
        before = self.snapshot(store, "wf-1")
        with pytest.raises(StoreError) as info:
            store.append_batch([good, bad])  # the well-formed append must not be written either
        assert not isinstance(info.value, SequenceConflict)
        assert self.snapshot(store, "wf-1") == before
        assert self.ids(store.query()) == ["wf-1"]
        assert store.all_timers() == []

    # -- batches -------------------------------------------------------------------

    def test_batch_applies_appends_independently(self, store: EventStore) -> None:
        create(store, "wf-b", n=2)
        before_b = self.snapshot(store, "wf-b")
        outcomes = store.append_batch([
            Append("wf-a", 0, make_events("wf-a", 1, 2), RUNNING,
                   schedule_timers=(TimerRow("wf-a", "ta", at(5)),)),
            Append("wf-b", 1, make_events("wf-b", 2, 1), RUNNING,
                   schedule_timers=(TimerRow("wf-b", "tb", at(5)),)),
            Append("wf-c", 0, make_events("wf-c", 1, 3), WorkflowState("invoice", "running")),
        ])
        assert len(outcomes) == 3
        assert outcomes[0] is None and outcomes[2] is None
        assert isinstance(outcomes[1], SequenceConflict)
        assert (outcomes[1].workflow_id, outcomes[1].expected, outcomes[1].found) == ("wf-b", 1, 2)
        assert store.read_history("wf-a") == list(make_events("wf-a", 1, 2))
        assert store.read_history("wf-c") == list(make_events("wf-c", 1, 3))
        assert self.snapshot(store, "wf-b") == before_b
        assert store.timers_of("wf-a") == [TimerRow("wf-a", "ta", at(5))]
        assert self.ids(store.query()) == ["wf-a", "wf-b", "wf-c"]  # one start instant: by id

    def test_batch_appends_to_one_workflow_apply_in_order(self, store: EventStore) -> None:
        outcomes = store.append_batch([
            Append("wf-1", 0, make_events("wf-1", 1, 2), RUNNING),
            Append("wf-1", 2, make_events("wf-1", 3, 2), WorkflowState("order", "completed", closed=True)),
            Append("wf-1", 2, make_events("wf-1", 3, 1)),  # stale now: the previous one moved to 4
        ])
        assert outcomes[:2] == [None, None]
        assert isinstance(outcomes[2], SequenceConflict) and outcomes[2].found == 4
        assert [e.seq for e in store.read_history("wf-1")] == [1, 2, 3, 4]
        summary = store.get_summary("wf-1")
        assert (summary.status, summary.last_seq, summary.closed_at) == ("completed", 4, make_events("wf-1", 4, 1)[0].recorded_at)

    def test_empty_batch_returns_empty_list(self, store: EventStore) -> None:
        assert store.append_batch([]) == []

    # -- concurrency -----------------------------------------------------------------

    def test_concurrent_threads_on_same_expected_seq_have_exactly_one_winner(self, store: EventStore) -> None:
        interval = sys.getswitchinterval()
        sys.setswitchinterval(1e-6)  # switch threads often, so a missing lock shows up as a race
        try:
            self._race_threads(store)
        finally:
            sys.setswitchinterval(interval)

    def _race_threads(self, store: EventStore) -> None:
        for round_ in range(20):
            wid = f"wf-{round_}"
            create(store, wid, n=1)
            candidates = {tag: make_events(wid, 2, 3, run_id=tag) for tag in ("A", "B")}
            barrier = threading.Barrier(2)
            results: dict[str, object] = {}

            def appender(tag: str) -> None:
                barrier.wait(timeout=10)
                try:
                    results[tag] = store.append(wid, candidates[tag], 1)
                except BaseException as exc:  # noqa: BLE001 - reported below
                    results[tag] = exc

            threads = [threading.Thread(target=appender, args=(tag,)) for tag in candidates]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=30)
            assert not any(thread.is_alive() for thread in threads), "an appender hung"
            winners = [tag for tag, result in results.items() if result == 4]
            losers = [tag for tag, result in results.items() if isinstance(result, SequenceConflict)]
            assert len(winners) == 1 and len(losers) == 1, f"round {round_}: {results!r}"
            assert (results[losers[0]].expected, results[losers[0]].found) == (1, 4), f"round {round_}: {results!r}"
            history = store.read_history(wid)
            assert history[1:] == list(candidates[winners[0]]), f"round {round_}"
            assert store.get_summary(wid).last_seq == 4

    PROCESS_APPENDER = textwrap.dedent("""
        import os, sys, time
        from datetime import datetime, timedelta, timezone
        from stores.url import open_store
        from stores.base import StoredEvent
        from stores.errors import SequenceConflict

        url, tag, rounds, sync = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
        t0 = datetime(2024, 3, 1, 12, 0, 0, tzinfo=timezone.utc)
        store = open_store(url)
        outcomes = []
        for i in range(rounds):
            wid = f"proc-{i}"
            events = [StoredEvent(wid, seq, tag, "step", t0 + timedelta(milliseconds=seq), f"{tag}-{seq}".encode())
                      for seq in (2, 3, 4)]
            open(os.path.join(sync, f"ready-{tag}-{i}"), "w").close()
            go = os.path.join(sync, f"go-{i}")
            deadline = time.monotonic() + 60
            while not os.path.exists(go):
                if time.monotonic() > deadline:
                    sys.exit(f"appender {tag} timed out waiting for round {i}")
                time.sleep(0.0002)
            try:
                store.append(wid, events, 1)
                outcomes.append("won")
            except SequenceConflict as exc:
                assert (exc.expected, exc.found) == (1, 4), exc
                outcomes.append("lost")
        store.close()
        print(" ".join(outcomes))
    """)

    def test_concurrent_processes_on_same_expected_seq_have_exactly_one_winner(
            self, store: EventStore, tmp_path: Path) -> None:
        url = self.store_url(tmp_path)
        if url is None:
            pytest.skip("this store cannot be opened from another process (store_url returned None)")
        rounds = 10
        for i in range(rounds):
            create(store, f"proc-{i}", n=1)
        sync = tmp_path / "sync"
        sync.mkdir()
        env = dict(os.environ)
        package_root = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        children = {
            tag: subprocess.Popen([sys.executable, "-c", self.PROCESS_APPENDER, url, tag, str(rounds), str(sync)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
            for tag in ("A", "B")
        }
        try:
            for i in range(rounds):
                deadline = time.monotonic() + 60
                while not all((sync / f"ready-{tag}-{i}").exists() for tag in children):
                    dead = [tag for tag, child in children.items() if child.poll() is not None]
                    if dead or time.monotonic() > deadline:
                        break
                    time.sleep(0.001)
                (sync / f"go-{i}").touch()
            output = {tag: child.communicate(timeout=60) for tag, child in children.items()}
        finally:
            for child in children.values():
                if child.poll() is None:
                    child.kill()
                    child.wait()
        for tag, (out, err) in output.items():
            assert children[tag].returncode == 0, f"appender {tag} failed:\n{err}"
        outcomes = {tag: out.split() for tag, (out, err) in output.items()}
        assert all(len(o) == rounds for o in outcomes.values()), outcomes
        for i in range(rounds):
            winners = [tag for tag in outcomes if outcomes[tag][i] == "won"]
            assert len(winners) == 1, f"round {i}: {outcomes!r}"
            history = store.read_history(f"proc-{i}")
            assert [e.seq for e in history] == [1, 2, 3, 4]
            assert [e.data for e in history[1:]] == [f"{winners[0]}-{seq}".encode() for seq in (2, 3, 4)]
            assert {e.run_id for e in history[1:]} == {winners[0]}

    # -- large histories and ranges ----------------------------------------------------

    def test_large_history_reads_back_whole_and_from_a_batch_boundary(self, store: EventStore) -> None:
        total, batch = 10_000, 1_000
        for start in range(1, total + 1, batch):
            store.append("big", make_events("big", start, batch), start - 1, RUNNING if start == 1 else None)
        history = store.read_history("big")
        assert len(history) == total
        assert [e.seq for e in history] == list(range(1, total + 1))
        assert history[-1] == make_events("big", total, 1)[0]
        tail = store.read_history_from("big", 5_001)
        assert [e.seq for e in tail] == list(range(5_001, total + 1))
        assert tail == history[5_000:]
        assert store.get_summary("big").last_seq == total

    def test_range_reads_at_the_boundaries(self, store: EventStore) -> None:
        events = list(create(store, "wf-1", n=5))
        assert store.read_history_from("wf-1", 1) == events
        assert store.read_history_from("wf-1", 3) == events[2:]
        assert store.read_history_from("wf-1", 5) == events[4:]
        assert store.read_history_from("wf-1", 6) == []
        assert store.read_history_from("wf-1", 100) == []
        # from_seq < 1 reads from the first event
        assert store.read_history_from("wf-1", 0) == events
        assert store.read_history_from("wf-1", -3) == events

    def test_unknown_workflow_reads_empty(self, store: EventStore) -> None:
        create(store, "wf-1")
        assert store.read_history("nope") == []
        assert store.read_history_from("nope", 1) == []
        assert store.get_summary("nope") is None
        assert store.read_run_chain("nope") == []
        assert store.timers_of("nope") == []

    def test_empty_store(self, store: EventStore) -> None:
        assert store.list_active() == []
        assert store.query() == []
        assert store.all_timers() == []

    # -- summaries, listing and queries -----------------------------------------------

    def test_summary_follows_the_state_handed_with_each_append(self, store: EventStore) -> None:
        first = create(store, "wf-1", n=2, state=WorkflowState("order", "running"))
        summary = store.get_summary("wf-1")
        assert summary == WorkflowSummary("wf-1", "order", "running", first[0].recorded_at, None, 1, 2)
        store.append("wf-1", make_events("wf-1", 3, 1), 2)  # no state: metadata unchanged
        assert store.get_summary("wf-1") == WorkflowSummary("wf-1", "order", "running", first[0].recorded_at, None, 1, 3)
        store.append("wf-1", make_events("wf-1", 4, 1), 3, WorkflowState("order", "paused"))
        assert store.get_summary("wf-1").status == "paused"
        closing = make_events("wf-1", 5, 3)
        store.append("wf-1", closing, 4, WorkflowState("order-v2", "completed", closed=True))
        summary = store.get_summary("wf-1")
        assert summary == WorkflowSummary("wf-1", "order-v2", "completed", first[0].recorded_at,
                                          closing[-1].recorded_at, 1, 7)
        assert summary.closed_at.utcoffset() == timedelta(0)

    def test_list_active_follows_status(self, store: EventStore) -> None:
        create(store, "running", start=at(20))
        create(store, "paused", start=at(10), state=WorkflowState("order", "paused"))
        create(store, "done", start=at(5))
        create(store, "continuing", start=at(30), state=WorkflowState("order", "continued_as_new"))
        store.append("done", make_events("done", 2, 1, start=at(40)), 1, WorkflowState("order", "completed", closed=True))
        active = store.list_active()
        assert [s.workflow_id for s in active] == ["paused", "running", "continuing"]  # oldest first
        assert all(s.closed_at is None for s in active)
        assert [s.status for s in active] == ["paused", "running", "continued_as_new"]
        store.append("running", make_events("running", 2, 1, start=at(50)), 1,
                     WorkflowState("order", "failed", closed=True))
        assert [s.workflow_id for s in store.list_active()] == ["paused", "continuing"]
        store.append("paused", make_events("paused", 2, 1, start=at(60)), 1, WorkflowState("order", "running"))
        assert [s.workflow_id for s in store.list_active()] == ["paused", "continuing"]

    def _query_fixture(self, store: EventStore) -> None:
        hour = 3600
        create(store, "w1", start=at(1 * hour), state=WorkflowState("order", "running"))
        create(store, "w2", start=at(2 * hour), state=WorkflowState("order", "running"))
        create(store, "w4", start=at(3 * hour), state=WorkflowState("order", "paused"))
        create(store, "w3", start=at(3 * hour), state=WorkflowState("invoice", "running"))
        create(store, "w5", start=at(4 * hour), state=WorkflowState("invoice", "running"))
        store.append("w1", make_events("w1", 2, 1, start=at(5 * hour)), 1,
                     WorkflowState("order", "completed", closed=True))
        store.append("w3", make_events("w3", 2, 1, start=at(6 * hour)), 1,
                     WorkflowState("invoice", "failed", closed=True))

    @staticmethod
    def ids(summaries: list[WorkflowSummary]) -> list[str]:
        return [s.workflow_id for s in summaries]

    def test_query_without_filter_is_newest_started_first(self, store: EventStore) -> None:
        self._query_fixture(store)
        # w3 and w4 started at the same instant: ties break by workflow_id.
        assert self.ids(store.query()) == ["w5", "w3", "w4", "w2", "w1"]
        assert self.ids(store.query(WorkflowFilter())) == ["w5", "w3", "w4", "w2", "w1"]
        w1 = store.query(WorkflowFilter(status="completed"))[0]
        assert w1 == store.get_summary("w1")

    def test_query_by_type_and_status(self, store: EventStore) -> None:
        self._query_fixture(store)
        assert self.ids(store.query(WorkflowFilter(workflow_type="order"))) == ["w4", "w2", "w1"]
        assert self.ids(store.query(WorkflowFilter(workflow_type="nothing"))) == []
        assert self.ids(store.query(WorkflowFilter(status="running"))) == ["w5", "w2"]
        assert self.ids(store.query(WorkflowFilter(status=("completed", "failed")))) == ["w3", "w1"]
        assert self.ids(store.query(WorkflowFilter(status=["paused"]))) == ["w4"]
        assert self.ids(store.query(WorkflowFilter(status=()))) == []
        assert self.ids(store.query(WorkflowFilter(workflow_type="order", status=["running", "completed"]))) == ["w2", "w1"]

    def test_query_started_window_is_inclusive(self, store: EventStore) -> None:
        self._query_fixture(store)
        h2, h3 = at(2 * 3600), at(3 * 3600)
        assert self.ids(store.query(WorkflowFilter(started_after=h2))) == ["w5", "w3", "w4", "w2"]
        assert self.ids(store.query(WorkflowFilter(started_after=h2 + US))) == ["w5", "w3", "w4"]
        assert self.ids(store.query(WorkflowFilter(started_before=h3))) == ["w3", "w4", "w2", "w1"]
        assert self.ids(store.query(WorkflowFilter(started_before=h3 - US))) == ["w2", "w1"]
        assert self.ids(store.query(WorkflowFilter(started_after=h2, started_before=h3))) == ["w3", "w4", "w2"]
        assert self.ids(store.query(WorkflowFilter(started_after=h3, started_before=h3))) == ["w3", "w4"]

    def test_query_closed_window_is_inclusive_and_excludes_open_workflows(self, store: EventStore) -> None:
        self._query_fixture(store)
        h5, h6 = at(5 * 3600), at(6 * 3600)
        assert self.ids(store.query(WorkflowFilter(closed_after=h5))) == ["w3", "w1"]
        assert self.ids(store.query(WorkflowFilter(closed_after=h5 + US))) == ["w3"]
        assert self.ids(store.query(WorkflowFilter(closed_before=h6))) == ["w3", "w1"]
        assert self.ids(store.query(WorkflowFilter(closed_before=h5))) == ["w1"]
        assert self.ids(store.query(WorkflowFilter(closed_before=h5 - US))) == []
        assert self.ids(store.query(WorkflowFilter(closed_after=h6, closed_before=h6))) == ["w3"]
        assert self.ids(store.query(WorkflowFilter(closed_after=T0 - timedelta(days=365)))) == ["w3", "w1"]

    def test_query_offset_then_limit(self, store: EventStore) -> None:
        self._query_fixture(store)
        assert self.ids(store.query(WorkflowFilter(limit=2))) == ["w5", "w3"]
        assert self.ids(store.query(WorkflowFilter(offset=1, limit=2))) == ["w3", "w4"]
        assert self.ids(store.query(WorkflowFilter(offset=4))) == ["w1"]
        assert self.ids(store.query(WorkflowFilter(offset=4, limit=10))) == ["w1"]
        assert self.ids(store.query(WorkflowFilter(offset=10))) == []
        assert self.ids(store.query(WorkflowFilter(limit=0))) == []
        assert self.ids(store.query(WorkflowFilter(workflow_type="order", offset=1, limit=1))) == ["w2"]

    # -- run chains --------------------------------------------------------------------

    def test_run_chain_follows_continue_as_new(self, store: EventStore) -> None:
        run_a = make_events("wf-1", 1, 3, "run-a")
        run_b = make_events("wf-1", 4, 2, "run-b")
        run_c = make_events("wf-1", 6, 3, "run-c")
        store.append("wf-1", run_a, 0, RUNNING)
        # One append may span a continue-as-new boundary.
        store.append("wf-1", run_b + run_c[:1], 3, RUNNING)
        store.append("wf-1", run_c[1:], 6, RUNNING)
        chain = store.read_run_chain("wf-1")
        assert chain == [
            RunSummary("run-a", 1, 3, run_a[0].recorded_at, run_a[-1].recorded_at),
            RunSummary("run-b", 4, 5, run_b[0].recorded_at, run_b[-1].recorded_at),
            RunSummary("run-c", 6, 8, run_c[0].recorded_at, run_c[-1].recorded_at),
        ]
        summary = store.get_summary("wf-1")
        assert (summary.run_count, summary.last_seq, summary.started_at) == (3, 8, run_a[0].recorded_at)

    def test_single_run_chain(self, store: EventStore) -> None:
        events = create(store, "wf-1", n=4, run_id="only")
        assert store.read_run_chain("wf-1") == [RunSummary("only", 1, 4, events[0].recorded_at, events[-1].recorded_at)]
        assert store.get_summary("wf-1").run_count == 1

    # -- timers ------------------------------------------------------------------------

    def test_all_timers_lists_every_workflow_by_fire_at_then_ids(self, store: EventStore) -> None:
        create(store, "wf-1")
        create(store, "wf-2")
        schedule(store, "wf-1", TimerRow("wf-1", "t1", at(10)), TimerRow("wf-1", "t0", at(10)),
                 TimerRow("wf-1", "late", at(20)))
        schedule(store, "wf-2", TimerRow("wf-2", "t0", at(10)), TimerRow("wf-2", "early", at(5)))
        expected = [
            TimerRow("wf-2", "early", at(5)),
            TimerRow("wf-1", "t0", at(10)),
            TimerRow("wf-1", "t1", at(10)),
            TimerRow("wf-2", "t0", at(10)),
            TimerRow("wf-1", "late", at(20)),
        ]
        assert store.all_timers() == expected
        store.all_timers().clear()
        assert store.all_timers() == expected  # reading removes nothing, and hands out a copy
        for timer in store.all_timers():
            assert timer.fire_at.utcoffset() == timedelta(0)

    def test_all_timers_include_those_far_in_the_past_and_future(self, store: EventStore) -> None:
        create(store, "wf-1")
        past, future = datetime(1971, 1, 1, tzinfo=UTC), datetime(9000, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
        schedule(store, "wf-1", TimerRow("wf-1", "future", future), TimerRow("wf-1", "past", past))
        assert store.all_timers() == [TimerRow("wf-1", "past", past), TimerRow("wf-1", "future", future)]

    def test_rescheduling_a_timer_replaces_its_fire_at(self, store: EventStore) -> None:
        create(store, "wf-1")
        schedule(store, "wf-1", TimerRow("wf-1", "t", at(10)))
        schedule(store, "wf-1", TimerRow("wf-1", "t", at(30)))
        assert store.timers_of("wf-1") == [TimerRow("wf-1", "t", at(30))]
        schedule(store, "wf-1", TimerRow("wf-1", "t", at(1)))
        assert store.all_timers() == [TimerRow("wf-1", "t", at(1))]

    def test_timer_in_another_zone_reads_back_in_utc(self, store: EventStore) -> None:
        create(store, "wf-1")
        schedule(store, "wf-1", TimerRow("wf-1", "t", datetime(2024, 3, 1, 14, 0, 0, 5,
                                                               tzinfo=timezone(timedelta(hours=2)))))
        (timer,) = store.timers_of("wf-1")
        assert timer.fire_at == datetime(2024, 3, 1, 12, 0, 0, 5, tzinfo=UTC)
        assert timer.fire_at.utcoffset() == timedelta(0)

    def test_cancel_removes_a_timer_and_tolerates_an_absent_one(self, store: EventStore) -> None:
        create(store, "wf-1")
        create(store, "wf-2")
        schedule(store, "wf-1", TimerRow("wf-1", "a", at(1)), TimerRow("wf-1", "b", at(2)))
        schedule(store, "wf-2", TimerRow("wf-2", "a", at(1)))
        schedule(store, "wf-1", cancel=("a",))
        assert store.timers_of("wf-1") == [TimerRow("wf-1", "b", at(2))]
        schedule(store, "wf-1", cancel=("a", "never"))
        assert store.timers_of("wf-1") == [TimerRow("wf-1", "b", at(2))]
        assert store.timers_of("wf-2") == [TimerRow("wf-2", "a", at(1))]  # same timer id, other workflow

    def test_timers_of_lists_one_workflow_earliest_first(self, store: EventStore) -> None:
        create(store, "wf-1")
        create(store, "wf-2")
        schedule(store, "wf-1", TimerRow("wf-1", "z", at(3)), TimerRow("wf-1", "y", at(1)))
        schedule(store, "wf-2", TimerRow("wf-2", "x", at(2)))
        schedule(store, "wf-1", TimerRow("wf-1", "a", at(3)))
        assert store.timers_of("wf-1") == [TimerRow("wf-1", "y", at(1)), TimerRow("wf-1", "a", at(3)),
                                           TimerRow("wf-1", "z", at(3))]
        assert store.timers_of("wf-2") == [TimerRow("wf-2", "x", at(2))]

    def test_timers_in_an_append_land_with_its_events(self, store: EventStore) -> None:
        store.append("wf-1", make_events("wf-1", 1, 1), 0, RUNNING,
                     schedule_timers=[TimerRow("wf-1", "t1", at(10)), TimerRow("wf-1", "t2", at(20))])
        assert store.timers_of("wf-1") == [TimerRow("wf-1", "t1", at(10)), TimerRow("wf-1", "t2", at(20))]
        store.append("wf-1", make_events("wf-1", 2, 1), 1, RUNNING,
                     schedule_timers=[TimerRow("wf-1", "t3", at(5)), TimerRow("wf-1", "t2", at(25))],
                     cancel_timers=["t1", "absent"])
        assert store.timers_of("wf-1") == [TimerRow("wf-1", "t3", at(5)), TimerRow("wf-1", "t2", at(25))]
        assert store.all_timers() == store.timers_of("wf-1")
        store.append("wf-1", make_events("wf-1", 3, 1), 2, WorkflowState("order", "completed", closed=True),
                     cancel_timers=["t2", "t3"])
        assert store.timers_of("wf-1") == []
        assert store.all_timers() == []

    def test_timers_of_a_conflicting_append_are_not_applied(self, store: EventStore) -> None:
        create(store, "wf-1", n=1)
        schedule(store, "wf-1", TimerRow("wf-1", "keep", at(10)))  # the second event
        create(store, "wf-2")
        outcomes = store.append_batch([
            Append("wf-1", 1, make_events("wf-1", 2, 1), RUNNING,
                   schedule_timers=(TimerRow("wf-1", "new", at(1)), TimerRow("wf-1", "keep", at(99))),
                   cancel_timers=("keep",)),
            Append("wf-2", 1, make_events("wf-2", 2, 1), RUNNING,
                   schedule_timers=(TimerRow("wf-2", "other", at(3)),)),
        ])
        assert isinstance(outcomes[0], SequenceConflict) and outcomes[1] is None
        assert store.timers_of("wf-1") == [TimerRow("wf-1", "keep", at(10))]
        assert store.timers_of("wf-2") == [TimerRow("wf-2", "other", at(3))]
        assert store.all_timers() == [TimerRow("wf-2", "other", at(3)), TimerRow("wf-1", "keep", at(10))]

    # -- corruption --------------------------------------------------------------------

    def test_corrupted_event_raises_store_error_naming_workflow_and_seq(self, store: EventStore) -> None:
        create(store, "wf-corrupt", n=5)
        create(store, "wf-fine", n=2)
        self.corrupt_event(store, "wf-corrupt", 3)
        for read in (lambda: store.read_history("wf-corrupt"),
                     lambda: store.read_history_from("wf-corrupt", 2),
                     lambda: store.read_history_from("wf-corrupt", 3)):
            with pytest.raises(StoreError) as info:
                read()
            assert type(info.value) is not SequenceConflict
            message = str(info.value)
            assert "wf-corrupt" in message and re.search(r"(?<!\d)3(?!\d)", message), message
        # Reads that do not touch the damaged row still work.
        assert [e.seq for e in store.read_history_from("wf-corrupt", 4)] == [4, 5]
        assert len(store.read_history("wf-fine")) == 2
