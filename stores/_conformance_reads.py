"""The reading half of the `EventStore` conformance suite: histories, summaries, queries, runs, timers, damage.

Private to `stores.conformance`, which assembles the suite.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from ._conformance_kit import RUNNING, StoreCase, T0, US, UTC, at, create, make_events, schedule
from .base import Append, EventStore, RunSummary, TimerRow, WorkflowFilter, WorkflowState, WorkflowSummary
from .errors import SequenceConflict, StoreError


class ReadBehaviours(StoreCase):
    """Reads: what each read returns, in which order, and how a damaged row is reported."""

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
