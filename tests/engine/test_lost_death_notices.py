"""The multi-process runtime notices processes that die together, though Thespian does not say.

Thespian's `ChildActorExited` is lost when several children of one parent
are SIGKILLed at the same moment (FACTS.md): here, the attempt processes of
one run. Every death must still be seen, every round: attempts retried,
runs rebuilt by replay, and all of them complete; each death counted once.
"""

import asyncio
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
def beat_until_last_round(name: str, rounds: int) -> int:
    """Heartbeats for a long while on the attempts the test kills; the next one returns."""
    attempt = activity.info().attempt
    record_effect(f"{name} attempt {attempt} pid {os.getpid()}")
    if attempt <= rounds:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            activity.heartbeat(attempt)
            time.sleep(0.05)
    return attempt


@workflow.defn
async def long_activities(shape: dict) -> list[int]:
    """`fan` heartbeating activities at once: as many attempt processes, children of this run's."""
    rounds, fan = shape["rounds"], shape["fan"]
    retry = aion.RetryPolicy(max_attempts=rounds + 1, initial_interval=0.1)
    return list(await asyncio.gather(*(
        workflow.execute_activity(beat_until_last_round, f"{workflow.info().workflow_id}.{k}", rounds, retry=retry)
        for k in range(fan))))


@workflow.defn
async def parked_in_receive() -> str:
    workflow.set_query_handler("pid", os.getpid)  # the run actor's process (tests only: not deterministic)
    await workflow.receive("go")
    return "went"


@pytest.fixture
def engine(store_url, effects):  # effects first: the actor processes inherit where to write them
    with aion.Engine(store=store_url, runtime="local", workflows=[long_activities, parked_in_receive],
                     activities=[beat_until_last_round]) as engine:
        yield engine


def kill_together(pids) -> None:
    """SIGKILL every process at the same instant (as near as one loop gets)."""
    for pid in pids:
        os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("fan", [1, 3], ids=["one attempt per run", "three attempts of one run"])
def test_attempts_killed_together_are_all_retried(engine, effects, fan):
    handles = [engine.start(long_activities, {"rounds": ROUNDS, "fan": fan}, id=wid) for wid in WORKFLOWS]
    for attempt in range(1, ROUNDS + 1):
        def attempt_pids():
            lines = [line.split() for line in effects.all()]
            pids = {name: int(pid) for name, _, a, _, pid in lines if int(a) == attempt}
            return pids if len(pids) == len(WORKFLOWS) * fan else None

        pids = wait_for(attempt_pids, f"attempt {attempt} of every activity to run", detail=effects.all)
        kill_together(pids.values())
    for handle in handles:
        # A death nobody noticed: that run waits forever, and this times out.
        assert handle.result(timeout=30) == [ROUNDS + 1] * fan
        died = [e.event.failure.type for e in handle.history() if e.type_name == "ActivityFailed"]
        assert died == ["ActivityWorkerDied"] * ROUNDS * fan  # each death counted once
        started = sorted(e.event.attempt for e in handle.history() if e.type_name == "ActivityStarted")
        assert started == sorted(list(range(1, ROUNDS + 2)) * fan)


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
        assert handle.result(timeout=30) == "went"  # not parked: each death restarted it once, not twice
        assert [e.type_name for e in handle.history()].count("WorkflowStarted") == 1


def _pid(handle):
    try:
        return handle.query("pid", timeout=1)
    except (aion.QueryTimeout, aion.NotRunning):
        return None
