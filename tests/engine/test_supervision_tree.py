"""The engine's own supervision tree: engine -> type supervisor -> Recorder -> run actor.

Engine bugs are simulated by making an internal handler raise (in process, so
the patch reaches the actors). What a user sees: a crashed Recorder is
restarted and its run carries on; a run whose actor keeps crashing is parked
with the crash reason, the others keep running, and resume tries again.
"""

import pytest

import aion_actors as aion
from aion_actors import workflow
from aion_actors.runtime import recorder as recorder_module
from aion_actors.runtime import run_supervision
from aion_actors.runtime import workflow_actor as workflow_actor_module
from aion_actors.runtime.messages import RunQuery
from tests.waiting import wait_for


@workflow.defn
async def gate() -> str:
    seen = []
    workflow.set_query_handler("seen", lambda: list(seen))
    seen.append(await workflow.receive("go"))
    seen.append(await workflow.receive("go"))
    return "+".join(seen)


@pytest.fixture
def engine(store_url):
    with aion.Engine(store=store_url, workflows=[gate]) as engine:
        yield engine


def test_a_crashed_recorder_is_restarted_by_its_type_supervisor_and_the_run_goes_on(engine, monkeypatch):
    handle = engine.start(gate, id="g")
    handle.signal("go", "a")
    wait_for(lambda: handle.query("seen") == ["a"], "the run to have seen the signal")
    original = recorder_module._HANDLERS[RunQuery]

    def crash_once(self, msg, sender):
        monkeypatch.setitem(recorder_module._HANDLERS, RunQuery, original)
        raise RuntimeError("simulated recorder bug")

    monkeypatch.setitem(recorder_module._HANDLERS, RunQuery, crash_once)
    with pytest.raises(aion.QueryTimeout):
        handle.query("seen", timeout=1)            # asked the Recorder that crashed
    wait_for(lambda: handle.query("seen", timeout=1) == ["a"], "the rebuilt run to answer")   # rebuilt from the store
    handle.signal("go", "b")
    assert handle.result(timeout=10) == "a+b"
    assert [e.type_name for e in handle.history()].count("SignalReceived") == 2


def test_a_run_whose_actor_keeps_crashing_is_parked_with_the_reason_and_resumes(engine, monkeypatch):
    victim = engine.start(gate, id="victim")
    bystander = engine.start(gate, id="bystander")
    victim.signal("go", "a")
    wait_for(lambda: victim.query("seen") == ["a"], "the victim to have seen the signal")
    original = workflow_actor_module._HANDLERS[RunQuery]

    def crash_for_victim(self, msg, sender):
        if self.workflow_id == "victim":
            raise RuntimeError("simulated run actor bug")
        return original(self, msg, sender)

    monkeypatch.setitem(workflow_actor_module._HANDLERS, RunQuery, crash_for_victim)
    for _ in range(run_supervision.RUN_RESTART_INTENSITY + 1):
        with pytest.raises((aion.QueryTimeout, aion.NotRunning)):
            victim.query("seen", timeout=0.5)
        if victim.describe().status is aion.WorkflowStatus.PAUSED:
            break
    wait_for(lambda: victim.describe().status is aion.WorkflowStatus.PAUSED, "the crash-looping run to be parked")
    reason = victim.describe().paused_reason
    assert "crashed" in reason and "simulated run actor bug" in reason

    bystander.signal("go", "x")                    # the type and the engine keep serving
    bystander.signal("go", "y")
    assert bystander.result(timeout=10) == "x+y"

    monkeypatch.setitem(workflow_actor_module._HANDLERS, RunQuery, original)
    victim.signal("go", "b")                       # recorded while parked
    victim.resume()
    assert victim.result(timeout=10) == "a+b"
