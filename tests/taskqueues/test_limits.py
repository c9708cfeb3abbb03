"""Cluster-wide limits of a task queue hold across competing worker processes (judged from logged times)."""

from __future__ import annotations

from tests.taskqueues import app


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
    for name in ("w1", "w2", "w3"):
        workers.start(name, "--concurrency", "2", "--worker-concurrency", "2")
    pids = owner.start(app.fan_out, [0.3] * 9, id="fan").result(60)
    lines = workers.lines()
    assert len([x for x in lines if x["event"] == "end"]) == 9
    assert most_at_once(lines) == 2  # reached, never exceeded
    assert len(set(pids)) >= 2  # several workers took part
