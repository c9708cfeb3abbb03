"""Passivation: idle runs leave memory and come back by replay on a signal, a timer or a query."""


from aion_actors import workflow
from aion_actors import Residency
from tests.waiting import wait_for


@workflow.defn
async def parked(tag: str) -> dict:
    state = {"tag": tag, "signals": []}
    workflow.set_query_handler("state", lambda: state)
    for _ in range(2):
        state["signals"].append(await workflow.receive("poke"))
    await workflow.sleep(1.0)
    return state


def test_idle_run_is_passivated_and_revived(make_engine):
    engine = make_engine([parked], idle_timeout=0.1)
    handle = engine.start(parked, "a", id="p1")
    wait_for(lambda: engine.residency("p1") is Residency.NON_RESIDENT, "p1 to be passivated")
    assert handle.query("state") == {"tag": "a", "signals": []}     # a query rebuilds it by replay
    wait_for(lambda: engine.residency("p1") is Residency.NON_RESIDENT, "p1 to be passivated")
    handle.signal("poke", 1)                                         # a signal wakes it
    wait_for(lambda: engine.residency("p1") is Residency.NON_RESIDENT, "p1 to be passivated")
    handle.signal("poke", 2)
    wait_for(lambda: engine.residency("p1") is Residency.NON_RESIDENT, "p1 to be passivated")  # asleep on a timer, passivated
    assert handle.result(timeout=10) == {"tag": "a", "signals": [1, 2]}  # the timer revives it
    assert engine.residency("p1") is Residency.TERMINAL
    assert engine.residency("nope") is Residency.UNKNOWN


def test_resident_cap_passivates_least_recently_used(make_engine):
    engine = make_engine([parked], max_resident=3)
    handles = [engine.start(parked, str(i), id=f"cap-{i}") for i in range(6)]
    wait_for(lambda: sum(engine.residency(h.workflow_id) is Residency.RESIDENT for h in handles) <= 3,
             "at most 3 runs to stay resident")
    for h in handles:
        h.signal("poke", "x")
        h.signal("poke", "y")
    for i, h in enumerate(handles):
        assert h.result(timeout=10) == {"tag": str(i), "signals": ["x", "y"]}
