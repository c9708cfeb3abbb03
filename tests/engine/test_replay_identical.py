"""Replaying all/race/all_settled/with_timeout reproduces the recorded history byte for byte."""

import asyncio

import pytest

import aion_actors as aion
from aion_actors import activity, workflow
from aion_actors.replayer import replay


@activity.defn
def echo(value: str) -> str:
    return value


@activity.defn
def slow_echo(value: str) -> str:
    import time

    time.sleep(2)
    return value


@workflow.defn(name="concurrent")
async def concurrent(tag: str) -> dict:
    both = await workflow.all([workflow.execute_activity(echo, f"{tag}-a"), workflow.execute_activity(echo, "b")])
    first = await workflow.race([workflow.execute_activity(slow_echo, "slow"), workflow.sleep(0.05)])
    settled = await workflow.all_settled([workflow.execute_activity(echo, "c"), workflow.with_timeout(
        0.05, workflow.receive("never"))])
    gathered = await asyncio.gather(workflow.execute_activity(echo, "d"), asyncio.sleep(0.01))
    return {"both": both, "first": first, "settled": [ok for ok, _ in settled], "gathered": gathered[0]}


@workflow.defn(name="concurrent")
async def concurrent_changed_argument(tag: str) -> dict:
    await workflow.all([workflow.execute_activity(echo, f"{tag}-A"), workflow.execute_activity(echo, "b")])
    return {}


@pytest.fixture
def recorded(make_engine):
    engine = make_engine([concurrent], [echo, slow_echo])
    handle = engine.start(concurrent, "x")
    result = handle.result(timeout=30)
    return handle.history(), result


def test_replay_is_byte_identical(recorded):
    history, result = recorded
    assert result == {"both": ["x-a", "b"], "first": None, "settled": [True, False], "gathered": "d"}
    instance = replay(history, concurrent, activities=[echo, slow_echo])
    assert instance.take_new_commands() == []  # the replay asked for nothing the history lacks


def test_replay_catches_a_changed_argument(recorded):
    history, _ = recorded
    with pytest.raises(aion.NonDeterminismError) as info:
        replay(history, concurrent_changed_argument, activities=[echo])
    assert "other arguments" in str(info.value)
    replay(history[:4], concurrent_changed_argument, activities=[echo], strict=False)  # same keys: lenient passes
