"""The `TaskQueues` conformance cases about queue limits and concurrent claimers.

Private to `stores.conformance_tasks`, which assembles the suite. Limits are
checked from what the claimers saw: each records when it got a task back
and when it called `finish_task`, an interval inside the store's own
(claim committed, finish committed), so if the store held the limit, these
intervals do too; rates are checked on `claimed_at`, the store's clock.
"""

from __future__ import annotations

import multiprocessing
import random
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from ._conformance_kit import StoreFixture
from .tasks import NewTask, QueueLimits

LONG = 60.0


def new_task(n: int, queue: str = "gpu", *, priority: int = 0, partition_key: str | None = None,
             workflow_id: str = "wf", attempt: int = 1) -> NewTask:
    """The `n`th activity of `workflow_id`, on `queue`."""
    return NewTask(queue, workflow_id, "r1", f"act-{n}", attempt, "render", b"\x00in-%d\xff" % n, priority,
                   partition_key)


def most_at_once(intervals: list[tuple[float, float]]) -> int:
    """The most intervals (start, end) overlapping at any instant; an end before a start at the same instant."""
    moments = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    most = now = 0
    for _, step in moments:
        now += step
        most = max(most, now)
    return most


def most_in_a_window(moments: list[datetime], period: float) -> int:
    """The most of `moments` inside any half-open window [t, t + period)."""
    seconds = sorted(m.timestamp() for m in moments)
    return max((sum(1 for s in seconds if t <= s < t + period) for t in seconds), default=0)


def run_claimer(store: Any, worker: str, queue: str, hold: tuple[float, float], seed: int,
                lease: float = LONG) -> list[tuple[int, float, float]]:
    """Claim from `queue` until nothing is left, holding each task a random while; (id, got, finishing)."""
    rng = random.Random(seed)
    log: list[tuple[int, float, float]] = []
    idle_since = None
    while True:
        batch = store.claim_tasks(worker, [queue], 2, lease)
        got = time.monotonic()
        if not batch:
            [stats] = [s for s in store.queue_stats() if s.name == queue]
            if stats.pending == 0:
                return log
            idle_since = idle_since or got
            assert got - idle_since < 60, "tasks stayed pending but none could be claimed for 60 s"
            time.sleep(0.005)
            continue
        idle_since = None
        for task in batch:
            time.sleep(rng.uniform(*hold))
            finishing = time.monotonic()
            assert store.finish_task(task.id, task.token, b"done")
            log.append((task.id, got, finishing))


def claim_in_process(url: str, worker: str, queue: str, seed: int) -> list[tuple[int, float, float]]:
    """`run_claimer` in a process of its own (`multiprocessing` spawn: a fresh interpreter)."""
    from .url import open_store

    store = open_store(url)
    try:
        return run_claimer(store, worker, queue, (0.0, 0.01), seed)
    finally:
        store.close()


class TaskLimitBehaviours(StoreFixture):
    """Queue limits and concurrent claimers; hooks and fixtures come from `TaskQueuesConformance`."""

    store_url: Any

    def test_concurrency_caps_the_tasks_claimed_and_unfinished(self, store: Any) -> None:
        store.define_queue("gpu", QueueLimits(concurrency=2))
        ids = [store.put_task(new_task(n)) for n in range(5)]
        first = store.claim_tasks("w1", ["gpu"], 10, LONG)
        assert [t.id for t in first] == ids[:2]
        assert store.claim_tasks("w2", ["gpu"], 10, LONG) == []
        assert store.finish_task(first[0].id, first[0].token, b"")
        assert [t.id for t in store.claim_tasks("w2", ["gpu"], 10, LONG)] == [ids[2]]
        assert store.release_tasks("w1") == 1  # a lost claim frees its slot too
        assert [t.id for t in store.claim_tasks("w3", ["gpu"], 10, LONG)] == [ids[3]]
        store.define_queue("gpu", QueueLimits(concurrency=3))  # the latest definition wins at the next claim
        assert [t.id for t in store.claim_tasks("w3", ["gpu"], 10, LONG)] == [ids[4]]

    def test_a_limited_queue_does_not_hold_back_another(self, store: Any) -> None:
        store.define_queue("gpu", QueueLimits(concurrency=1))
        gpu = [store.put_task(new_task(n, "gpu", priority=5)) for n in range(3)]
        cpu = [store.put_task(new_task(n + 10, "cpu")) for n in range(3)]
        got = store.claim_tasks("w", ["gpu", "cpu"], 3, LONG)
        assert [t.id for t in got] == [gpu[0]] + cpu[:2]

    def test_concurrency_holds_across_racing_threads(self, store: Any) -> None:
        limit, total = 2, 24
        store.define_queue("gpu", QueueLimits(concurrency=limit))
        for n in range(total):
            store.put_task(new_task(n))
        logs: list[list[tuple[int, float, float]]] = [[] for _ in range(3)]
        start = threading.Barrier(len(logs))

        def claimer(i: int) -> None:
            start.wait()
            logs[i].extend(run_claimer(store, f"w{i}", "gpu", (0.0, 0.02), seed=i))

        threads = [threading.Thread(target=claimer, args=(i,)) for i in range(len(logs))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        every = [entry for log in logs for entry in log]
        assert sorted(i for i, _, _ in every) == sorted({i for i, _, _ in every}) and len(every) == total
        assert most_at_once([(got, done) for _, got, done in every]) <= limit

    def test_threads_without_limits_claim_each_task_once(self, store: Any) -> None:
        total = 150
        for n in range(total):
            store.put_task(new_task(n, priority=n % 3))
        claimed: list[list[int]] = [[] for _ in range(3)]
        start = threading.Barrier(len(claimed))

        def claimer(i: int) -> None:
            start.wait()
            while batch := store.claim_tasks(f"w{i}", ["gpu"], 3, LONG):
                claimed[i].extend(t.id for t in batch)

        threads = [threading.Thread(target=claimer, args=(i,)) for i in range(len(claimed))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        every = [i for ids in claimed for i in ids]
        assert len(every) == total and len(set(every)) == total

    def test_the_rate_limit_holds_in_every_window(self, store: Any) -> None:
        rate, period, total = 3, 0.3, 12
        store.define_queue("gpu", QueueLimits(rate_limit=rate, rate_period=period))
        for n in range(total):
            store.put_task(new_task(n))
        got: list[Any] = []
        lock = threading.Lock()

        def claimer(i: int) -> None:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                batch = store.claim_tasks(f"w{i}", ["gpu"], 2, LONG)
                with lock:
                    got.extend(batch)
                    if len(got) == total:
                        return
                time.sleep(0.002)

        threads = [threading.Thread(target=claimer, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert len(got) == total and len({t.id for t in got}) == total
        moments = [t.claimed_at for t in got]
        assert most_in_a_window(moments, period) <= rate
        # 12 claims at 3 per 0.3 s need at least three full periods after the first claim.
        assert (max(moments) - min(moments)).total_seconds() >= (total // rate - 1) * period

    def test_claims_count_against_the_rate_after_their_tasks_are_deleted(self, store: Any) -> None:
        store.define_queue("gpu", QueueLimits(rate_limit=2, rate_period=LONG))
        ids = [store.put_task(new_task(n)) for n in range(3)]
        for task in store.claim_tasks("w", ["gpu"], 5, LONG):
            assert store.finish_task(task.id, task.token, b"")
        assert store.delete_tasks(ids[:2]) == 2
        assert store.claim_tasks("w", ["gpu"], 5, LONG) == []
        assert store.queue_stats()[0].pending == 1

    def test_partitioned_limits_apply_per_partition_key(self, store: Any) -> None:
        store.define_queue("gpu", QueueLimits(concurrency=1, partitioned=True))
        a1, a2, b1, b2, n1 = (store.put_task(new_task(n, partition_key=key))
                              for n, key in enumerate(["a", "a", "b", "b", None]))
        got = store.claim_tasks("w", ["gpu"], 10, LONG)
        assert [t.id for t in got] == [a1, b1, n1]  # one per partition; no key is a partition of its own
        assert store.claim_tasks("w", ["gpu"], 10, LONG) == []
        assert store.finish_task(got[0].id, got[0].token, b"")
        assert [t.id for t in store.claim_tasks("w", ["gpu"], 10, LONG)] == [a2]
        store.define_queue("gpu", QueueLimits(concurrency=4))  # not partitioned now: 4 for the whole queue
        assert [t.id for t in store.claim_tasks("w", ["gpu"], 10, LONG)] == [b2]

    def test_a_partitioned_rate_limit_counts_each_key_apart(self, store: Any) -> None:
        store.define_queue("gpu", QueueLimits(rate_limit=2, rate_period=LONG, partitioned=True))
        ids = {key: [store.put_task(new_task(n * 10 + i, partition_key=key)) for i in range(3)]
               for n, key in enumerate("ab")}
        # A page of candidates full of partition "a" must not hide partition "b" behind it.
        got = store.claim_tasks("w", ["gpu"], 3, LONG)
        assert [t.id for t in got] == ids["a"][:2] + ids["b"][:1]
        assert [t.id for t in store.claim_tasks("w", ["gpu"], 5, LONG)] == ids["b"][1:2]
        assert store.claim_tasks("w", ["gpu"], 5, LONG) == []

    def test_processes_claim_each_task_once_within_the_concurrency(self, store: Any, tmp_path: Path) -> None:
        url = self.store_url(tmp_path)
        if url is None:
            pytest.skip("this store cannot be opened from another process (store_url returned None)")
        limit, total = 3, 45
        store.define_queue("gpu", QueueLimits(concurrency=limit))
        for n in range(total):
            store.put_task(new_task(n))
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(3, mp_context=spawn) as pool:
            futures = [pool.submit(claim_in_process, url, f"proc-{i}", "gpu", i) for i in range(3)]
            logs = [future.result(timeout=180) for future in futures]
        every = [entry for log in logs for entry in log]
        assert sorted(i for i, _, _ in every) == sorted({i for i, _, _ in every}) and len(every) == total
        assert most_at_once([(got, done) for _, got, done in every]) <= limit
        assert all(t.state == "finished" for t in store.read_tasks(i for i, _, _ in every))
