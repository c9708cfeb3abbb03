"""The writing half of the `EventStore` conformance suite: appends, conflicts, malformed input, races.

Private to `stores.conformance`, which assembles the suite.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from ._conformance_kit import RUNNING, StoreCase, T0, US, UTC, at, create, make_events, schedule
from .base import Append, EventStore, StoredEvent, TimerRow, WorkflowState
from .errors import SequenceConflict, StoreError


class WriteBehaviours(StoreCase):
    """Appends: atomic, numbered, refused when stale or malformed, one winner per race."""

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
