"""Replay answers from history; a changed workflow is caught and isolated."""

import time

import pytest

import aion_actors as aion
from aion_actors import activity, workflow

from tests.engine.conftest import record_effect


@activity.defn
def note(text: str) -> str:
    record_effect(text)
    return text


@activity.defn
def other(text: str) -> str:
    return text


@workflow.defn(name="gate")
async def gate_v1() -> dict:
    first = await workflow.execute_activity(note, "before")
    stamp = workflow.now()
    rolls = [workflow.random(), str(workflow.uuid4())]
    await workflow.receive("go")
    return {"first": first, "stamp": stamp.isoformat(), "rolls": rolls, "now_after": workflow.now() > stamp}


@workflow.defn(name="gate")
async def gate_v2_changed() -> dict:
    await workflow.execute_activity(other, "before")  # a different activity at the same position
    await workflow.receive("go")
    return {}


@workflow.defn(name="gate")
async def gate_v3_patched() -> dict:
    first = await workflow.execute_activity(note, "before")
    stamp = workflow.now()
    rolls = [workflow.random(), str(workflow.uuid4())]
    extra = None
    if workflow.patched("add-extra"):
        extra = await workflow.execute_activity(note, "extra")
    await workflow.receive("go")
    return {"first": first, "stamp": stamp.isoformat(), "rolls": rolls, "extra": extra}


@workflow.defn
async def bystander() -> str:
    await workflow.receive("go")
    return "fine"


def _started_gate(make_engine, workflow_fn):
    first = make_engine([workflow_fn, bystander], [note, other])
    handle = first.start("gate", id="g1")
    bystanding = first.start(bystander, id="b1")
    while "ActivityCompleted" not in [e.type_name for e in handle.history()]:
        time.sleep(0.01)
    first.close()
    return handle, bystanding


def test_replay_returns_recorded_results_and_values(make_engine, effects):
    _started_gate(make_engine, gate_v1)
    engine = make_engine([gate_v1, bystander], [note, other])
    handle = engine.get_handle("g1")
    handle.signal("go")
    result = handle.result(timeout=10)
    assert effects.all() == ["before"]  # the completed activity was not run again on replay
    completed = next(e for e in handle.history() if e.type_name == "ActivityCompleted")
    assert result["stamp"] == completed.recorded_at.isoformat()  # now() is the time of the waking event
    assert result["now_after"] is True
    assert len(set(result["rolls"])) == 2


def test_changed_code_fails_that_run_only(make_engine, effects):
    _started_gate(make_engine, gate_v1)
    engine = make_engine([gate_v2_changed, bystander], [note, other])
    with pytest.raises(aion.WorkflowFailed) as info:
        engine.get_handle("g1").result(timeout=10)
    assert info.value.cause.type == "NonDeterminismError"
    assert info.value.cause.message.startswith("non-determinism")
    assert [e.type_name for e in engine.get_handle("g1").history()].count("WorkflowFailed") == 1
    other_run = engine.get_handle("b1")
    other_run.signal("go")
    assert other_run.result(timeout=10) == "fine"


def test_patched_keeps_old_histories_replaying(make_engine, effects):
    _started_gate(make_engine, gate_v1)
    engine = make_engine([gate_v3_patched, bystander], [note, other])
    old = engine.get_handle("g1")
    old.signal("go")
    assert old.result(timeout=10)["extra"] is None
    new = engine.start("gate", id="g2")
    new.signal("go")
    assert new.result(timeout=10)["extra"] == "extra"
