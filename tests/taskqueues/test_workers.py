"""Attempts on the "gpu" queue run on real `aion worker --task-queue gpu` processes."""

from __future__ import annotations

import os
import signal

import pytest

import aion_actors as aion
from aion_actors import events as ev
from tests.taskqueues import app
from tests.taskqueues.conftest import completions
from tests.waiting import wait_for


def test_a_worker_process_runs_the_attempt_and_its_result_is_recorded(owner, workers):
    worker = workers.start("w1")
    assert owner.start(app.one, "teapot", id="one").result(30) == "rendered teapot"
    assert [x["pid"] for x in workers.lines("render")] == [worker.pid]


def test_failures_on_a_worker_are_retried_per_the_policy(owner, workers):
    workers.start("w1")
    assert owner.start(app.retried, "k", id="retried").result(30) == 3
    assert [x["attempt"] for x in workers.lines("fails_twice")] == [1, 2, 3]
    failed = [e.event for e in owner.get_handle("retried").history() if isinstance(e.event, ev.ActivityFailed)]
    assert [f.failure.message for f in failed] == ["attempt 1 fails", "attempt 2 fails"]


def test_an_attempt_on_a_queue_nobody_serves_waits_until_a_worker_serves_it(owner, workers):
    handle = owner.start(app.one, "later", id="waits")
    with pytest.raises(TimeoutError):
        handle.result(1.0)  # the owner does not run it, and nothing fails meanwhile
    assert handle.describe().status == aion.WorkflowStatus.RUNNING
    assert workers.lines() == []  # not even the owner, which knows `render`, ran it
    worker = workers.start("w1")
    assert handle.result(30) == "rendered later"
    assert [x["pid"] for x in workers.lines("render")] == [worker.pid]


def test_heartbeat_details_survive_a_worker_killed_mid_attempt(owner, workers):
    workers.start("w1")
    handle = owner.start(app.resumable, 40, id="resumable")
    wait_for(lambda: len(workers.lines("step")) >= 8, "the first worker to make progress")
    wait_for(lambda: any(isinstance(e.event, ev.ActivityHeartbeat) for e in handle.history()),
             "a heartbeat to be recorded")
    workers.signal("w1", signal.SIGKILL)
    reached = max(x["step"] for x in workers.lines("step"))
    workers.start("w2")
    result = handle.result(60)
    assert result["attempt"] == 2
    assert 0 < result["resumed_from"] <= reached  # the retry started from the details, not from scratch


def test_a_late_result_from_a_worker_that_lost_its_claim_is_not_recorded(owner, workers):
    frozen = workers.start("w1", "--worker-concurrency", "1")
    handle = owner.start(app.late, 1.5, id="late")
    wait_for(lambda: workers.lines("slow_first"), "attempt 1 to start")
    workers.freeze("w1")  # its claim lapses unrenewed; the owner retries elsewhere
    workers.start("w2")
    assert handle.result(30) == "fresh"
    workers.signal("w1", signal.SIGCONT)
    wait_for(lambda: workers.lines("late"), "the frozen worker's attempt to end")
    wait_for(lambda: frozen.poll() is None, "the frozen worker to live on")
    assert [c.result for c in completions(handle)] and len(completions(handle)) == 1
    assert handle.result(1) == "fresh"
    assert [x["attempt"] for x in workers.lines("slow_first")] == [1, 2]


def test_a_cancelled_workflow_cancels_its_remote_attempt(owner, workers):
    workers.start("w1")
    handle = owner.start(app.cancellable, id="cancellable")
    wait_for(lambda: workers.lines("until_cancelled"), "the attempt to start")
    handle.cancel(reason="no longer needed")
    wait_for(lambda: workers.lines("cancelled"), "ActivityCancelled to reach the attempt's heartbeat")
    with pytest.raises(aion.WorkflowCancelled):
        handle.result(30)


def test_a_remote_attempt_past_its_start_to_close_timeout_fails(owner, workers):
    workers.start("w1")
    handle = owner.start(app.bounded, 5.0, id="bounded")
    with pytest.raises(aion.WorkflowFailed):
        handle.result(30)
    failed = [e.event for e in handle.history() if isinstance(e.event, ev.ActivityFailed)]
    assert [(f.attempt, f.kind, f.failure.type) for f in failed] == [(1, "terminal", "ActivityTimeout")]
    # Told to stop, the attempt's task was cancelled: its worker dropped it; nothing else ran.
    assert len(workers.lines("start")) == 1


def test_a_dead_worker_node_s_claims_are_released_when_it_is_buried(owner, workers):
    """A worker that is also a node (it owns shards) is found dead at once on this machine: its
    attempts are retried then, long before their 60-second claims would have lapsed."""
    workers.start("node", "--task-lease", "60", node=True)  # later options win: this lease outlives the test
    handle = owner.start(app.resumable, 100, id="buried")
    wait_for(lambda: workers.lines("step"), "the first attempt to start")
    workers.signal("node", signal.SIGKILL)
    workers.start("w2")
    assert handle.result(40)["attempt"] == 2
