"""The public contract of start / result / activities / history / list / cancel."""

import asyncio
from dataclasses import dataclass
from datetime import datetime

import pytest

import aion_actors as aion
from aion_actors import activity, workflow


@activity.defn
def add(a: int, b: int) -> int:
    return a + b


@activity.defn
async def shout(text: str) -> str:
    await asyncio.sleep(0)
    return text.upper()


@activity.defn
def explode(message: str) -> None:
    raise ValueError(message)


@dataclass
class Order:
    id: int
    items: list[str]


@dataclass
class Receipt:
    order_id: int
    count: int
    at: datetime


@activity.defn(name="count-items")
def count_items(order: Order) -> int:
    assert isinstance(order, Order)
    return len(order.items)


@workflow.defn
async def sums(n: int) -> int:
    total = 0
    for i in range(n):
        total = await workflow.execute_activity(add, total, i)
    return total


@workflow.defn
async def mixed(text: str) -> list:
    a, b = await workflow.all([workflow.execute_activity(shout, text), workflow.execute_activity(add, 1, 2)])
    return [a, b]


@workflow.defn
async def catches(message: str) -> str:
    try:
        await workflow.execute_activity(explode, message)
    except aion.ActivityError as err:
        return f"caught {err.cause.type}: {err.cause.message}"
    return "not raised"


@workflow.defn
async def fails(message: str) -> None:
    raise RuntimeError(message)


@workflow.defn(name="receipt")
async def receipt_wf(order: Order) -> Receipt:
    count = await workflow.execute_activity(count_items, order)
    return Receipt(order.id, count, workflow.now())


@workflow.defn
async def no_input() -> str:
    return "ok"


def test_hello_result_and_history(make_engine):
    engine = make_engine([sums], [add])
    handle = engine.start(sums, 4, id="sum-1")
    assert handle.result(timeout=10) == 0 + 1 + 2 + 3
    kinds = [e.type_name for e in handle.history()]
    assert kinds[0] == "WorkflowStarted" and kinds[-1] == "WorkflowCompleted"
    assert kinds.count("ActivityCompleted") == 4
    assert [e.seq for e in handle.history()] == list(range(1, len(kinds) + 1))


def test_sync_and_async_activities_together(make_engine):
    engine = make_engine([mixed], [shout, add])
    assert engine.start(mixed, "hi").result(timeout=10) == ["HI", 3]


def test_dataclasses_are_decoded_to_annotated_types(make_engine):
    engine = make_engine([receipt_wf], [count_items])
    result = engine.start("receipt", Order(7, ["a", "b"])).result(timeout=10)
    assert isinstance(result, Receipt) and result.order_id == 7 and result.count == 2
    assert result.at.tzinfo is not None


def test_activity_failure_is_catchable_in_workflow(make_engine):
    engine = make_engine([catches], [explode])
    assert engine.start(catches, "boom").result(timeout=10) == "caught ValueError: boom"


def test_workflow_raising_fails_the_run_not_the_engine(make_engine):
    engine = make_engine([fails, sums], [add])
    with pytest.raises(aion.WorkflowFailed) as info:
        engine.start(fails, "bad input").result(timeout=10)
    assert info.value.cause.type == "RuntimeError"
    assert "bad input" in info.value.cause.message
    assert "Traceback" in info.value.cause.traceback
    assert engine.start(sums, 2).result(timeout=10) == 1


def test_workflow_without_input(make_engine):
    engine = make_engine([no_input])
    assert engine.start(no_input).result(timeout=10) == "ok"
    with pytest.raises(aion.InvalidArgument):
        engine.start(no_input, 5)


def test_duplicate_id_is_refused(make_engine):
    engine = make_engine([sums], [add])
    engine.start(sums, 1, id="same").result(timeout=10)
    with pytest.raises(aion.WorkflowAlreadyExists):
        engine.start(sums, 1, id="same")
    assert len(engine.get_handle("same").history()) == 5


def test_unknown_type_and_id(make_engine):
    engine = make_engine([sums], [add])
    with pytest.raises(aion.UnknownWorkflowType) as info:
        engine.start("nope", 1)
    assert "sums" in str(info.value)
    with pytest.raises(aion.WorkflowNotFound):
        engine.get_handle("missing")


def test_unencodable_input_is_refused_before_recording(make_engine):
    engine = make_engine([sums], [add])
    with pytest.raises(aion.PayloadError) as info:
        engine.start(sums, {"x": object()}, id="bad")
    assert "$.x" in str(info.value)
    assert engine.list() == []


def test_list_filters_by_status_and_type(make_engine):
    engine = make_engine([sums, fails], [add])
    engine.start(sums, 1, id="a").result(timeout=10)
    with pytest.raises(aion.WorkflowFailed):
        engine.start(fails, "x", id="b").result(timeout=10)
    assert [s.workflow_id for s in engine.list(status="completed")] == ["a"]
    assert [s.workflow_id for s in engine.list(type="fails")] == ["b"]
    assert {s.workflow_id for s in engine.list()} == {"a", "b"}
    with pytest.raises(aion.InvalidArgument):
        engine.list(status="bogus")
    with pytest.raises(aion.InvalidArgument):
        engine.list(limit=0)
    assert [s.workflow_id for s in engine.list(limit=1, offset=1)] in (["a"], ["b"])


def test_describe(make_engine):
    engine = make_engine([sums], [add])
    handle = engine.start(sums, 2, id="d")
    handle.result(timeout=10)
    info = handle.describe()
    assert info.status is aion.WorkflowStatus.COMPLETED
    assert info.workflow_type == "sums" and info.run_count == 1 and info.pending_activities == ()
