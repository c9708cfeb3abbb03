"""The multi-process runtime notices processes that die together, though Thespian does not say.

Thespian's `ChildActorExited` is lost when several children of one parent
are SIGKILLed at the same moment (FACTS.md). Three workflows in one engine:
their run actors are children of three Recorders, but those Recorders are
children of one type supervisor, and the Writer, engine and timers are all
busy at once; their attempts' processes die within microseconds of each
other. Each death must still be seen, every round: attempts retried, runs
rebuilt by replay, and all of them complete.
"""

import os
import signal
import time

import pytest

import aion_actors as aion
from aion_actors import activity, workflow
from tests.engine.conftest import record_effect
from tests.waiting import wait_for

ROUNDS = 3  # a run rebuilt more than 3 times within a minute is parked (RUN_RESTART_INTENSITY)
WORKFLOWS = ("w0", "w1", "w2")


@activity.defn
def beat_until_last_round(workflow_id: str, rounds: int) -> int:
    """Heartbeats for a long while on the attempts the test kills; the next one returns."""
    attempt = activity.info().attempt
    record_effect(f"{workflow_id} attempt {attempt} pid {os.getpid()}")
    if attempt <= rounds:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            activity.heartbeat(attempt)
            time.sleep(0.05)
    return attempt


@workflow.defn
async def long_activity(rounds: int) -> int:
    return await workflow.execute_activity(
        beat_until_last_round, workflow.info().workflow_id, rounds,
        retry=aion.RetryPolicy(max_attempts=rounds + 1, initial_interval=0.1))


@workflow.defn
async def parked_in_receive() -> str:
    workflow.set_query_handler("pid", os.getpid)  # the run actor's process (tests only: not deterministic)
    await workflow.receive("go")
    return "went"


@pytest.fixture
def engine(store_url, effects):  # effects first: the actor processes inherit where to write them
    with aion.Engine(store=store_url, runtime="local", workflows=[long_activity, parked_in_receive],
                     activities=[beat_until_last_round]) as engine:
        yield engine


def kill_together(pids) -> None:
    """SIGKILL every process at the same instant (as near as one loop gets)."""
    for pid in pids:
        os.kill(pid, signal.SIGKILL)


def test_attempts_killed_together_are_all_retried(engine, effects):
    handles = [engine.start(long_activity, ROUNDS, id=wid) for wid in WORKFLOWS]
    for attempt in range(1, ROUNDS + 1):
        def attempt_pids():
            lines = [line.split() for line in effects.all()]
            pids = {w: int(p) for w, _, a, _, p in lines if int(a) == attempt}
            return pids if len(pids) == len(WORKFLOWS) else None

        pids = wait_for(attempt_pids, f"attempt {attempt} of every workflow to run", detail=effects.all)
        kill_together(pids.values())
    for handle in handles:
        assert handle.result(timeout=30) == ROUNDS + 1  # a death nobody noticed: a hang, then a timeout here
        died = [e.event.failure.type for e in handle.history() if e.type_name == "ActivityFailed"]
        assert died == ["ActivityWorkerDied"] * ROUNDS
        started = [e.event.attempt for e in handle.history() if e.type_name == "ActivityStarted"]
        assert started == list(range(1, ROUNDS + 2))


def test_run_processes_killed_together_are_all_rebuilt_by_replay(engine):
    handles = [engine.start(parked_in_receive, id=wid) for wid in WORKFLOWS]
    killed: set[int] = set()
    for round_ in range(1, ROUNDS + 1):
        def run_pids():
            pids = [_pid(handle) for handle in handles]
            return pids if all(pid is not None and pid not in killed for pid in pids) else None

        pids = wait_for(run_pids, f"every run to be up in a new process (round {round_})")
        kill_together(pids)
        killed.update(pids)
    wait_for(lambda: all(_pid(h) not in (None, *killed) for h in handles), "every run to be rebuilt once more")
    for handle in handles:
        handle.signal("go")
    for handle in handles:
        assert handle.result(timeout=30) == "went"
        assert [e.type_name for e in handle.history()].count("WorkflowStarted") == 1


def _pid(handle):
    try:
        return handle.query("pid", timeout=1)
    except (aion.QueryTimeout, aion.NotRunning):
        return None
