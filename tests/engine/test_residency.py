"""Passivation: idle runs leave memory and come back by replay on a signal, a timer or a query."""

import time

from aion_actors import workflow
from aion_actors import Residency


@workflow.defn
async def parked(tag: str) -> dict:
    state = {"tag": tag, "signals": []}
    workflow.set_query_handler("state", lambda: state)
    for _ in range(2):
        state["signals"].append(await workflow.receive("poke"))
    await workflow.sleep(1.0)
    return state


def wait_for(predicate, timeout=10.0):
    deadline = time.time() + timeout
    while not predicate():
        assert time.time() < deadline, "condition not reached in time"
        time.sleep(0.02)


def test_idle_run_is_passivated_and_revived(make_engine):
    engine = make_engine([parked], idle_timeout=0.1)
    handle = engine.start(parked, "a", id="p1")
    wait_for(lambda: engine.residency("p1") is Residency.NON_RESIDENT)
    assert handle.query("state") == {"tag": "a", "signals": []}     # a query rebuilds it by replay
    wait_for(lambda: engine.residency("p1") is Residency.NON_RESIDENT)
    handle.signal("poke", 1)                                         # a signal wakes it
    wait_for(lambda: engine.residency("p1") is Residency.NON_RESIDENT)
    handle.signal("poke", 2)
    wait_for(lambda: engine.residency("p1") is Residency.NON_RESIDENT)  # asleep on a timer, passivated
    assert handle.result(timeout=10) == {"tag": "a", "signals": [1, 2]}  # the timer revives it
    assert engine.residency("p1") is Residency.TERMINAL
    assert engine.residency("nope") is Residency.UNKNOWN


def test_resident_cap_passivates_least_recently_used(make_engine):
    engine = make_engine([parked], max_resident=3)
    handles = [engine.start(parked, str(i), id=f"cap-{i}") for i in range(6)]
    wait_for(lambda: sum(engine.residency(h.workflow_id) is Residency.RESIDENT for h in handles) <= 3)
    for h in handles:
        h.signal("poke", "x")
        h.signal("poke", "y")
    for i, h in enumerate(handles):
        assert h.result(timeout=10) == {"tag": str(i), "signals": ["x", "y"]}
