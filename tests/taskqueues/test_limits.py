"""Cluster-wide limits of a task queue hold across competing worker processes (judged from logged times)."""

from __future__ import annotations

from tests.taskqueues import app
from tests.waiting import wait_for


def most_at_once(lines: list[dict]) -> int:
    """The largest number of jobs running at one instant, from their start and end lines."""
    edges = sorted([(x["at"], 1) for x in lines if x["event"] == "start"]
                   + [(x["at"], -1) for x in lines if x["event"] == "end"], key=lambda e: (e[0], e[1]))
    running = most = 0
    for _, step in edges:
        running += step
        most = max(most, running)
    return most


def test_queue_concurrency_is_never_exceeded_by_three_workers(owner, workers):
    # Three workers of one slot each could run three at once: only the queue's cluster-wide limit
    # keeps them at two, and reaching two takes two of them.
    started = [workers.start(name, "--concurrency", "2", "--worker-concurrency", "1") for name in ("w1", "w2", "w3")]
    pids = owner.start(app.fan_out, [0.3] * 9, id="fan").result(60)
    lines = workers.lines()
    assert len([x for x in lines if x["event"] == "end"]) == 9
    assert most_at_once(lines) == 2  # reached, never exceeded
    assert set(pids) <= {w.pid for w in started} and len(set(pids)) >= 2  # workers ran them all, the owner none


def test_waiting_attempts_run_by_priority(owner, workers, store_url):
    from stores.url import open_store

    handles = {p: owner.start(app.prioritized, p, id=f"p{p}") for p in (0, 5, 1, 9)}
    store = open_store(store_url)
    try:
        wait_for(lambda: any(q.name == "gpu" and q.pending == 4 for q in store.queue_stats()),
                 "the four attempts to wait on the queue")
    finally:
        store.close()
    workers.start("w1", "--worker-concurrency", "1")
    for handle in handles.values():
        handle.result(30)
    assert [x["workflow_id"] for x in workers.lines("start")] == ["p9", "p5", "p1", "p0"]


def test_the_rate_limit_holds_across_three_workers(owner, workers):
    for name in ("w1", "w2", "w3"):
        workers.start(name, "--rate-limit", "3", "--rate-period", "1")
    owner.start(app.fan_out, [0.01] * 9, id="rated").result(60)
    starts = sorted(x["at"] for x in workers.lines("start"))
    assert len(starts) == 9
    # Claims are judged by the store's clock; logged starts trail them by a little, so a window
    # slightly shorter than the period must never hold more than the limit.
    assert max(sum(1 for t in starts if s <= t < s + 0.9) for s in starts) <= 3
    assert starts[-1] - starts[0] >= 1.5  # nine starts at three per second take two periods at least
