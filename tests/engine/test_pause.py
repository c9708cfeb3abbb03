"""pause()/resume(): a paused run records but dispatches nothing; recovery skips it; resume goes on."""

import aion_actors as aion
from aion_actors import activity, workflow
from tests.engine.conftest import record_effect
from tests.waiting import wait_for


@activity.defn
def work(name: str) -> str:
    record_effect(name)
    return name


@workflow.defn
async def paced() -> list:
    done: list = []
    workflow.set_query_handler("done", lambda: done)
    first = await workflow.receive("go")
    done.append(await workflow.execute_activity(work, first))
    second = await workflow.receive("go")
    done.append(await workflow.execute_activity(work, second))
    return done


def test_a_paused_run_records_signals_but_runs_no_activity_until_resumed(make_engine, effects):
    engine = make_engine([paced], [work])
    handle = engine.start(paced, id="p")
    handle.pause("maintenance")
    assert handle.describe().status is aion.WorkflowStatus.PAUSED
    assert handle.describe().paused_reason == "maintenance"
    handle.signal("go", "one")
    wait_for(lambda: "ActivityStarted" in kinds(handle), "the paused run to record the activity's attempt")
    assert handle.query("done") == []  # answered after the run acted on that record (mailbox order)
    assert effects.all() == []                       # scheduled, recorded, but not dispatched
    assert "SignalReceived" in kinds(handle) and "ActivityScheduled" in kinds(handle)
    handle.resume()
    handle.signal("go", "two")
    assert handle.result(timeout=15) == ["one", "two"]
    assert effects.all() == ["one", "two"]
    # Had the paused run dispatched the attempt, it would have completed before the resume.
    history = kinds(handle)
    assert history.index("WorkflowResumed") < history.index("ActivityCompleted")


def kinds(handle) -> list[str]:
    return [e.type_name for e in handle.history()]


def test_recovery_skips_a_paused_run_until_it_is_resumed(store_url, runtime, effects):
    with aion.Engine(store=store_url, workflows=[paced], activities=[work], runtime=runtime) as engine:
        handle = engine.start(paced, id="q")
        handle.pause("hold")
    with aion.Engine(store=store_url, workflows=[paced], activities=[work], runtime=runtime) as engine:
        assert engine.resumed == 0
        handle = engine.get_handle("q")
        handle.resume()
        handle.signal("go", "a")
        handle.signal("go", "b")
        assert handle.result(timeout=15) == ["a", "b"]
