"""A pytest suite every `TaskQueues` must pass.

Subclass `TaskQueuesConformance` in a test module (give the subclass a name
starting with `Test` so pytest collects it) and provide the hooks::

    from stores.conformance_tasks import TaskQueuesConformance

    class TestMyTaskQueues(TaskQueuesConformance):
        def make_store(self, tmp_path):
            return MyStore(tmp_path / "db")

        def store_url(self, tmp_path):
            return None  # or a URL `stores.open_store` opens, in another process or after a close

Each test gets a fresh, empty store from `make_store` and closes it at the
end. Leases that must lapse are taken for `SHORT` seconds and polled on the
store's own clock (bounded), never guessed at. The cases about limits and
concurrent claimers live in `stores._conformance_task_limits`.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from ._conformance_task_limits import LONG, TaskLimitBehaviours, new_task
from .errors import StoreError
from .tasks import NewTask, QueueLimits, QueueStats

SHORT = 0.2
_LAPSE_BOUND_S = 10.0


class TaskQueuesConformance(TaskLimitBehaviours):
    """Behaviours every `TaskQueues` shares. Not collected by itself (no `Test` prefix)."""

    # -- hooks -------------------------------------------------------------

    def make_store(self, tmp_path: Path) -> Any:
        """A fresh, empty store. Called once per test."""
        raise NotImplementedError

    def store_url(self, tmp_path: Path) -> str | None:
        """A URL `stores.open_store` opens as the same store `make_store(tmp_path)` returned, from another
        process or after it is closed; `None` skips the cases that need one."""
        return None

    @staticmethod
    def wait_lapsed(store: Any, task_id: int) -> Any:
        """The task once its lease has lapsed by the store's clock (taken with `SHORT`)."""
        deadline = time.monotonic() + _LAPSE_BOUND_S
        while not (task := store.read_tasks([task_id])[0]).lease_expired:
            assert time.monotonic() < deadline, f"the lease of task {task_id} never lapsed"
            time.sleep(0.02)
        return task

    # -- putting and reading --------------------------------------------------

    def test_a_task_is_put_pending_and_read_back(self, store: Any) -> None:
        before = datetime.now(timezone.utc) - timedelta(seconds=5)
        put = NewTask("gpu", "wf", "r1", "act-1", 1, "render", b"\x00\xffbody", 7, "tenant-a")
        first = store.put_task(put)
        second = store.put_task(new_task(2))
        assert second > first
        [got] = store.read_tasks([first, 10_000])
        assert (got.id, got.queue, got.workflow_id, got.run_id, got.activity_id, got.attempt, got.activity_type,
                got.body, got.priority, got.partition_key) == (first, "gpu", "wf", "r1", "act-1", 1, "render",
                                                               b"\x00\xffbody", 7, "tenant-a")
        assert (got.state, got.claimed_by, got.token, got.claimed_at, got.lease_expired, got.cancel_requested,
                got.beats, got.details, got.outcome) == ("pending", None, 0, None, False, False, 0, None, None)
        assert got.created_at.tzinfo is not None and got.created_at >= before
        assert [t.id for t in store.read_tasks([second, first])] == [first, second]
        assert store.read_tasks([]) == []

    def test_putting_an_attempt_again_returns_its_id_and_writes_nothing(self, store: Any) -> None:
        first = store.put_task(new_task(1))
        again = store.put_task(NewTask("other", "wf", "r1", "act-1", 1, "x", b"different", 9))
        assert again == first
        [task] = store.read_tasks([first])
        assert (task.queue, task.body, task.priority) == ("gpu", b"\x00in-1\xff", 0)
        assert [s.pending for s in store.queue_stats()] == [1]

    def test_a_newer_attempt_supersedes_the_older_ones(self, store: Any) -> None:
        pending = store.put_task(new_task(1, attempt=1))
        other_activity = store.put_task(new_task(2, attempt=1))
        other_run = store.put_task(NewTask("gpu", "wf", "r0", "act-1", 1, "render", b""))
        [claimed] = store.claim_tasks("w", ["gpu"], 1, LONG)
        assert claimed.id == pending
        second = store.put_task(new_task(1, attempt=2))
        [task] = store.read_tasks([pending])
        assert (task.state, task.cancel_requested) == ("claimed", True)  # claimed: asked to stop
        third = store.put_task(new_task(1, attempt=3))
        states = {t.id: (t.state, t.cancel_requested) for t in store.read_tasks([second, third, other_activity,
                                                                                  other_run])}
        assert states == {second: ("cancelled", False), third: ("pending", False),
                          other_activity: ("pending", False), other_run: ("pending", False)}
        late = store.put_task(new_task(1, attempt=2))  # idempotent: still the cancelled one
        assert late == second
        assert store.delete_tasks([second]) == 1
        stale = store.put_task(new_task(1, attempt=2))  # an older attempt after a newer one: never runs
        assert store.read_tasks([stale])[0].state == "cancelled"

    def test_unfinished_tasks_show_which_worker_runs_a_workflows_attempts(self, store: Any) -> None:
        running = store.put_task(new_task(1))
        waiting = store.put_task(new_task(2))
        done = store.put_task(new_task(3, queue="cpu"))
        store.put_task(new_task(1, workflow_id="other"))
        store.claim_tasks("w-1", ["gpu"], 1, LONG)
        [finishing] = store.claim_tasks("w-2", ["cpu"], 1, LONG)
        assert store.finish_task(done, finishing.token, b"")
        got = store.unfinished_tasks("wf")
        assert [(t.id, t.state, t.claimed_by) for t in got] == [(running, "claimed", "w-1"),
                                                                (waiting, "pending", None)]
        assert store.unfinished_tasks("nobody") == []

    # -- claiming, renewing, finishing ------------------------------------------

    def test_claims_go_by_priority_then_age(self, store: Any) -> None:
        ids = [store.put_task(new_task(n, priority=p)) for n, p in enumerate([0, 5, 0, 5, -1, 9])]
        store.put_task(new_task(9, queue="elsewhere", priority=100))
        got = store.claim_tasks("w", ["gpu"], 4, LONG)
        assert [t.id for t in got] == [ids[5], ids[1], ids[3], ids[0]]
        assert all((t.state, t.claimed_by) == ("claimed", "w") and t.token > 0 for t in got)
        assert all(t.created_at <= t.claimed_at and t.lease_expires_at >= t.claimed_at + timedelta(seconds=59)
                   for t in got)
        assert [t.id for t in store.claim_tasks("w2", ["gpu"], 10, LONG)] == [ids[2], ids[4]]
        assert store.claim_tasks("w2", ["gpu"], 10, LONG) == []
        assert store.read_tasks([ids[2]])[0].claimed_by == "w2"

    def test_a_finished_task_keeps_its_outcome_and_refuses_a_second_finish(self, store: Any) -> None:
        task_id = store.put_task(new_task(1))
        [task] = store.claim_tasks("w", ["gpu"], 1, LONG)
        assert not store.finish_task(task_id, task.token + 1, b"wrong token")
        assert store.finish_task(task_id, task.token, b"\x00out")
        assert not store.finish_task(task_id, task.token, b"again")
        [got] = store.read_tasks([task_id])
        assert (got.state, got.outcome) == ("finished", b"\x00out")
        assert not store.finish_task(10_000, 1, b"gone")

    def test_renewal_answers_per_claim_and_keeps_heartbeat_details(self, store: Any) -> None:
        mine, stale, theirs = (store.put_task(new_task(n)) for n in range(3))
        a, b = store.claim_tasks("w", ["gpu"], 2, SHORT * 5)
        [c] = store.claim_tasks("other", ["gpu"], 1, LONG)
        answers = store.renew_tasks("w", [(a.id, a.token), (b.id, b.token + 7), (c.id, c.token), (10_000, 1)],
                                    LONG, {a.id: b"50%"})
        assert answers == {mine: "ok", stale: "lost", theirs: "lost", 10_000: "lost"}
        [got] = store.read_tasks([mine])
        assert (got.details, got.beats) == (b"50%", 1)
        assert got.lease_expires_at >= a.claimed_at + timedelta(seconds=50)  # renewed past the first lease
        assert store.renew_tasks("w", [(a.id, a.token)], LONG, {a.id: b"90%"}) == {mine: "ok"}
        assert store.renew_tasks("w", [(a.id, a.token)], LONG) == {mine: "ok"}
        [got] = store.read_tasks([mine])
        assert (got.details, got.beats) == (b"90%", 2)
        assert store.renew_tasks("w", [], LONG) == {}

    def test_a_lapsed_claim_is_lost_its_finish_refused_and_its_owner_expires_it(self, store: Any) -> None:
        task_id = store.put_task(new_task(1))
        [task] = store.claim_tasks("w", ["gpu"], 1, SHORT)
        assert not store.expire_task(task_id, task.token)  # still live
        lapsed = self.wait_lapsed(store, task_id)
        assert lapsed.state == "claimed"
        assert store.renew_tasks("w", [(task_id, task.token)], LONG) == {task_id: "lost"}  # not revived
        assert not store.finish_task(task_id, task.token, b"late")
        assert store.read_tasks([task_id])[0].outcome is None
        assert not store.expire_task(task_id, task.token + 1)
        assert store.expire_task(task_id, task.token)
        assert not store.expire_task(task_id, task.token)
        [got] = store.read_tasks([task_id])
        assert (got.state, got.lease_expired) == ("lost", False)
        assert store.claim_tasks("w", ["gpu"], 1, LONG) == []  # a lost task never runs again

    def test_the_claims_of_a_dead_worker_are_lost_at_once(self, store: Any) -> None:
        ids = [store.put_task(new_task(n)) for n in range(4)]
        dead = store.claim_tasks("dead", ["gpu"], 3, LONG)
        [alive] = store.claim_tasks("alive", ["gpu"], 1, LONG)
        assert store.finish_task(dead[0].id, dead[0].token, b"")
        assert store.release_tasks("dead") == 2
        assert store.release_tasks("dead") == 0
        assert [t.state for t in store.read_tasks(ids)] == ["finished", "lost", "lost", "claimed"]
        assert store.renew_tasks("dead", [(t.id, t.token) for t in dead[1:]], LONG) == {
            dead[1].id: "lost", dead[2].id: "lost"}
        assert not store.finish_task(dead[1].id, dead[1].token, b"late")
        assert store.renew_tasks("alive", [(alive.id, alive.token)], LONG) == {alive.id: "ok"}

    def test_cancel_stops_a_pending_task_and_asks_a_claimed_one(self, store: Any) -> None:
        claimed_id, pending_id = store.put_task(new_task(1)), store.put_task(new_task(2))
        [claimed] = store.claim_tasks("w", ["gpu"], 1, LONG)
        store.cancel_task(pending_id)
        store.cancel_task(claimed_id)
        store.cancel_task(10_000)  # gone: nothing to do
        assert store.claim_tasks("w", ["gpu"], 5, LONG) == []
        assert [(t.state, t.cancel_requested) for t in store.read_tasks([claimed_id, pending_id])] == [
            ("claimed", True), ("cancelled", False)]
        assert store.renew_tasks("w", [(claimed_id, claimed.token)], LONG) == {claimed_id: "cancel"}
        assert store.finish_task(claimed_id, claimed.token, b"stopped")
        store.cancel_task(claimed_id)
        assert store.read_tasks([claimed_id])[0].state == "finished"

    def test_deleted_tasks_are_gone(self, store: Any) -> None:
        ids = [store.put_task(new_task(n)) for n in range(3)]
        assert store.delete_tasks([ids[0], ids[2], 10_000]) == 2
        assert [t.id for t in store.read_tasks(ids)] == [ids[1]]
        assert store.delete_tasks([]) == 0
        assert store.put_task(new_task(9)) > ids[2]  # ids are never handed out twice

    # -- queues ------------------------------------------------------------------

    def test_a_queue_never_defined_is_unlimited_and_the_latest_definition_wins(self, store: Any) -> None:
        assert store.queue_limits("gpu") == QueueLimits()
        store.define_queue("gpu", QueueLimits(concurrency=2, rate_limit=10, rate_period=0.5))
        store.define_queue("gpu", QueueLimits(concurrency=3, partitioned=True))
        assert store.queue_limits("gpu") == QueueLimits(concurrency=3, partitioned=True)

    def test_queue_limits_survive_reopening_the_store(self, store: Any, tmp_path: Path) -> None:
        url = self.store_url(tmp_path)
        if url is None:
            pytest.skip("this store cannot be reopened (store_url returned None)")
        from .url import open_store

        limits = QueueLimits(concurrency=1, rate_limit=5, rate_period=0.25, partitioned=True)
        store.define_queue("gpu", limits)
        task_id = store.put_task(new_task(1, partition_key="k"))
        store.put_task(new_task(2, partition_key="k"))
        store.claim_tasks("w", ["gpu"], 5, LONG)
        store.close()
        again = open_store(url)
        try:
            assert again.queue_limits("gpu") == limits
            assert again.claim_tasks("w", ["gpu"], 5, LONG) == []  # the held claim still counts
            assert [t.id for t in again.read_tasks([task_id])] == [task_id]
        finally:
            again.close()

    def test_queue_stats_give_each_known_queues_figures(self, store: Any) -> None:
        assert store.queue_stats() == []
        store.define_queue("idle", QueueLimits(concurrency=4))
        ids = [store.put_task(new_task(n, queue="gpu")) for n in range(5)]
        store.claim_tasks("w-b", ["gpu"], 1, LONG)
        [second] = store.claim_tasks("w-a", ["gpu"], 1, LONG)
        store.claim_tasks("w-a", ["gpu"], 1, LONG)
        assert store.finish_task(second.id, second.token, b"")
        store.claim_tasks("w-c", ["empty"], 1, LONG)
        oldest = store.read_tasks([ids[3]])[0].created_at
        stats = store.queue_stats()
        assert [s.name for s in stats] == ["empty", "gpu", "idle"]
        empty, gpu, idle = stats
        assert gpu == QueueStats("gpu", QueueLimits(), 2, 2, oldest, ("w-a", "w-b"))
        assert idle == QueueStats("idle", QueueLimits(concurrency=4), 0, 0, None, ())
        assert empty == QueueStats("empty", QueueLimits(), 0, 0, None, ())

    # -- refusals -------------------------------------------------------------------

    @pytest.mark.parametrize("task", [
        NewTask("", "wf", "r1", "a", 1, "t", b""), NewTask("q", "", "r1", "a", 1, "t", b""),
        NewTask("q", "wf", "", "a", 1, "t", b""), NewTask("q", "wf", "r1", "", 1, "t", b""),
        NewTask("q", "wf", "r1", "a", 0, "t", b""), NewTask("q", "wf", "r1", "a", True, "t", b""),
        NewTask("q", "wf", "r1", "a", 1, "", b""), NewTask("q", "wf", "r1", "a", 1, "t", "text"),
        NewTask("q", "wf", "r1", "a", 1, "t", b"", priority=1.5),
        NewTask("q", "wf", "r1", "a", 1, "t", b"", partition_key=""), ("q", "wf"),
    ])
    def test_a_malformed_task_is_refused_and_nothing_written(self, store: Any, task: Any) -> None:
        with pytest.raises(StoreError):
            store.put_task(task)
        assert store.queue_stats() == []

    @pytest.mark.parametrize("name, limits", [
        ("", QueueLimits()), ("q", QueueLimits(concurrency=0)), ("q", QueueLimits(rate_limit=-1)),
        ("q", QueueLimits(concurrency=2.0)), ("q", QueueLimits(rate_period=0)),
        ("q", QueueLimits(rate_period=True)), ("q", QueueLimits(partitioned=1)), ("q", {"concurrency": 1}),
    ])
    def test_malformed_limits_are_refused_and_nothing_written(self, store: Any, name: Any, limits: Any) -> None:
        with pytest.raises(StoreError):
            store.define_queue(name, limits)
        assert store.queue_stats() == []

    @pytest.mark.parametrize("worker, queues, limit, lease", [
        ("", ["gpu"], 1, LONG), ("w", [], 1, LONG), ("w", "gpu", 1, LONG), ("w", [""], 1, LONG),
        ("w", ["gpu"], 0, LONG), ("w", ["gpu"], True, LONG), ("w", ["gpu"], 1, 0), ("w", ["gpu"], 1, -1.0),
    ])
    def test_a_malformed_claim_is_refused_and_nothing_claimed(self, store: Any, worker, queues, limit,
                                                               lease) -> None:
        task_id = store.put_task(new_task(1))
        with pytest.raises(StoreError):
            store.claim_tasks(worker, queues, limit, lease)
        assert store.read_tasks([task_id])[0].state == "pending"
        assert [s.name for s in store.queue_stats()] == ["gpu"]

    def test_malformed_renewals_and_finishes_are_refused_and_nothing_written(self, store: Any) -> None:
        task_id = store.put_task(new_task(1))
        [task] = store.claim_tasks("w", ["gpu"], 1, SHORT * 5)
        claim = (task_id, task.token)
        for args in [("", [claim], LONG), ("w", [claim], 0), ("w", [(task_id,)], LONG), ("w", [("1", 1)], LONG),
                     ("w", [claim], LONG, {task_id: "text"}), ("w", [claim], LONG, {task_id + 1: b""})]:
            with pytest.raises(StoreError):
                store.renew_tasks(*args)
        for args in [(task_id, task.token, "text"), (str(task_id), task.token, b""), (task_id, None, b"")]:
            with pytest.raises(StoreError):
                store.finish_task(*args)
        for call in (lambda: store.release_tasks(""), lambda: store.cancel_task("1"),
                     lambda: store.expire_task(task_id, "1")):
            with pytest.raises(StoreError):
                call()
        [got] = store.read_tasks([task_id])
        assert (got.state, got.beats, got.details, got.lease_expires_at) == ("claimed", 0, None,
                                                                              task.lease_expires_at)
