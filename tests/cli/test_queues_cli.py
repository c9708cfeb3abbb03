"""`aion queues` and the task-queue lines of `describe`, on real SQLite files, as `aion` processes.

The tasks are put and claimed through the store's own API (`define_queue`,
`put_task`, `claim_tasks`), standing in for the owners and workers that put
and claim them in a running cluster.
"""

from __future__ import annotations

import asyncio
import json
import threading

import pytest
from click.testing import CliRunner

import aion_actors
from aion_actors import activity, workflow
from aion_actors.cli import main
from aion_actors.cli.commands_queues import age, queues
from aion_actors.errors import NoTaskQueues
from stores import NewTask, QueueLimits
from stores.url import open_store
from tests.waiting import wait_for


def task(queue: str, activity_id: str, workflow_id: str = "wf-1", run_id: str = "run-1", attempt: int = 1,
         partition_key: str | None = None) -> NewTask:
    return NewTask(queue, workflow_id, run_id, activity_id, attempt, "train", b"{}", partition_key=partition_key)


@pytest.fixture(params=["sqlite", "postgresql"])
def busy(aion, request):
    """A store (a SQLite file, a fresh PostgreSQL database) with a served queue `gpu` (5 tasks, 2 claimed
    by two workers), a partitioned `pay` defined but empty, and `orphan`, holding a task nobody serves."""
    if request.param == "postgresql":
        aion.store = aion.env["AION_STORE"] = request.getfixturevalue("postgres_url")
    store = open_store(aion.store)
    try:
        store.define_queue("gpu", QueueLimits(concurrency=2, rate_limit=50, rate_period=60))
        store.define_queue("pay", QueueLimits(concurrency=3, rate_limit=5, rate_period=1, partitioned=True))
        for n in range(5):
            store.put_task(task("gpu", str(n)))
        store.put_task(task("orphan", "9", workflow_id="wf-2"))
        assert len(store.claim_tasks("worker-b", ["gpu"], 1, 60)) == 1
        assert len(store.claim_tasks("worker-a", ["gpu"], 1, 60)) == 1
    finally:
        store.close()
    return aion


def test_json_gives_every_queue_its_figures(busy):
    shown = {q["name"]: q for q in busy.json("queues")["queues"]}
    assert sorted(shown) == ["gpu", "orphan", "pay"]
    gpu, orphan, pay = shown["gpu"], shown["orphan"], shown["pay"]
    assert (gpu["pending"], gpu["running"], gpu["concurrency"], gpu["rate_limit"], gpu["rate_period"],
            gpu["partitioned"], gpu["workers"]) == (3, 2, 2, 50, 60.0, False, ["worker-a", "worker-b"])
    assert 0 <= gpu["oldest_pending_age"] < 60 and gpu["oldest_pending"].startswith("20")
    # Nobody serves it, yet it shows with its waiting task.
    assert (orphan["pending"], orphan["running"], orphan["workers"], orphan["concurrency"], orphan["rate_limit"]) \
        == (1, 0, [], None, None)
    assert orphan["oldest_pending_age"] is not None
    assert (pay["pending"], pay["running"], pay["oldest_pending"], pay["oldest_pending_age"], pay["partitioned"]) \
        == (0, 0, None, None, True)


def test_the_table_shows_depth_running_limits_wait_and_workers(busy):
    busy.env["COLUMNS"] = "200"  # one line per queue, as on a wide terminal
    done = busy("queues")
    assert done.returncode == 0, done.stderr
    rows = {line.split("│")[1].strip(): [cell.strip() for cell in line.split("│")[2:-1]]
            for line in done.stdout.splitlines() if line.startswith("│")}
    assert rows["gpu"][:4] == ["3", "2", "2", "50 per 60 s"]
    assert rows["gpu"][4].endswith(" s") and rows["gpu"][5] == "worker-a, worker-b"
    assert rows["orphan"] == ["1", "0", "-", "-", rows["orphan"][4], ""]
    assert rows["orphan"][4].endswith(" s")
    assert rows["pay"] == ["0", "0", "3 per partition", "5 per 1 s per partition", "-", ""]


def test_a_store_without_queues_says_so(aion):
    open_store(aion.store).close()
    done = aion("queues")
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith("no task queues in ")
    assert aion.json("queues") == {"queues": []}


class OwnStore:
    """A store of one's own that keeps no task queues."""

    def close(self) -> None:
        pass


def test_a_store_without_task_queues_is_a_typed_error(monkeypatch, tmp_path):
    monkeypatch.setattr("aion_actors.cli.options.open_store", lambda url: OwnStore())
    with pytest.raises(NoTaskQueues) as raised:
        queues.main(["--store", "memory:"], standalone_mode=False)
    assert raised.value.store == "memory:"
    done = CliRunner().invoke(main, ["queues", "--store", "memory:"])
    assert done.exit_code == 1
    assert "keeps no task queues (it does not implement stores.TaskQueues)" in done.output


@pytest.mark.parametrize("seconds, shown", [(0.04, "0.0 s"), (4.25, "4.2 s"), (59.9, "59.9 s"), (60, "1 min"),
                                            (185, "3 min 5 s"), (3600, "1 h"), (7830, "2 h 10 min"),
                                            (3 * 86400 + 4 * 3600 + 5, "3 d 4 h")])
def test_ages_read_as_a_person_says_them(seconds, shown):
    assert age(seconds) == shown


# -- describe --------------------------------------------------------------------------------

gate = threading.Event()


@activity.defn
def held(n: int) -> int:
    gate.wait(30)
    return n


@workflow.defn
async def pair() -> list:
    return list(await asyncio.gather(workflow.execute_activity(held, 1, start_to_close_timeout=60),
                                     workflow.execute_activity(held, 2, start_to_close_timeout=60)))


def test_describe_shows_the_queue_and_worker_of_an_attempt(aion):
    """Two attempts running; the store says the first is on queue `gpu` (as a remote attempt would be):
    describe shows it waiting, then the worker that claimed it; the other stays as it was."""
    gate.clear()
    with aion_engine(aion.store) as engine:
        handle = engine.start(pair, id="pair-1")

        def both_started() -> list | None:
            started = [e for e in handle.history() if e.type_name == "ActivityStarted"]
            return started if len(started) == 2 else None

        started = wait_for(both_started, "both attempts to start")
        first, second = sorted(e.event.activity_id for e in started)
        run_id = started[0].run_id
        store = open_store(aion.store)
        try:
            store.put_task(task("gpu", str(first), workflow_id="pair-1", run_id=run_id))
            store.put_task(task("gpu", str(second), workflow_id="pair-1", run_id="an-older-run"))
            waiting = pending(aion, "pair-1")
            assert waiting[first]["task_queue"] == "gpu" and waiting[first]["worker"] is None
            assert f"#{first} held  attempt 1  on queue gpu, waiting" in described(aion, "pair-1")
            assert len(store.claim_tasks("gpu-box-1", ["gpu"], 2, 60)) == 2
        finally:
            store.close()
        running = pending(aion, "pair-1")
        assert (running[first]["task_queue"], running[first]["worker"]) == ("gpu", "gpu-box-1")
        # Another run's task is not where this run's activity runs.
        assert (running[second]["task_queue"], running[second]["worker"]) == (None, None)
        text = described(aion, "pair-1")
        assert f"#{first} held  attempt 1  on queue gpu, worker gpu-box-1" in text
        assert f"#{second} held  attempt 1\n" in text
        by_handle = {a.activity_id: a for a in handle.describe().pending_activities}
        assert (by_handle[first].task_queue, by_handle[first].worker) == ("gpu", "gpu-box-1")
        assert (by_handle[second].task_queue, by_handle[second].worker) == (None, None)
        gate.set()
        assert handle.result(timeout=30) == [1, 2]


def aion_engine(url: str) -> aion_actors.Engine:
    return aion_actors.Engine(store=url, workflows=[pair], activities=[held])


def pending(runner, workflow_id: str) -> dict[int, dict]:
    return {a["activity_id"]: a for a in runner.json("describe", workflow_id)["pending_activities"]}


def described(runner, workflow_id: str) -> str:
    done = runner("describe", workflow_id)
    assert done.returncode == 0, done.stderr
    return done.stdout
