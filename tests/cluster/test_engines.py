"""Two engines on one store are two nodes: every client call works from either, for any workflow."""

from __future__ import annotations

import pytest

import aion_actors as aion
from aion_actors import activity, workflow
from tests.waiting import wait_for


@activity.defn
async def greet(name: str) -> str:
    return f"hello {name}"


@workflow.defn
async def hello(name: str) -> str:
    return await workflow.execute_activity(greet, name)


@workflow.defn
async def mailbox() -> list:
    state = {"got": []}
    workflow.set_query_handler("got", lambda: state["got"])
    while len(state["got"]) < 2:
        state["got"].append(await workflow.receive("put"))
    return state["got"]


@workflow.defn
async def family(n: int) -> list:
    return [await workflow.execute_child(hello, f"child {i}") for i in range(n)]


APP = {"workflows": [hello, mailbox, family], "activities": [greet]}


@pytest.fixture
def two_nodes(tmp_path):
    url = f"sqlite:///{tmp_path}/aion.db"
    with aion.Engine(url, node_id="one", lease_ttl=2, **APP) as one, \
            aion.Engine(url, node_id="two", lease_ttl=2, **APP) as two:
        wait_for(lambda: len(two._runtime.ownership.serving()) == 32 and len(one._runtime.ownership.serving()) == 32,
                 timeout=30, what="the shards spread over both nodes")
        yield one, two


def _owned_by(engine, prefix: str) -> str:
    return next(f"{prefix}-{i}" for i in range(1000) if engine._runtime.owns(f"{prefix}-{i}"))


def test_an_engine_alone_owns_every_shard(tmp_path):
    with aion.Engine(f"sqlite:///{tmp_path}/aion.db", **APP) as engine:
        assert len(engine._runtime.ownership.serving()) == 64
        assert engine.start(hello, "solo").result(10) == "hello solo"


def test_every_client_call_works_from_the_node_that_does_not_own_the_workflow(two_nodes):
    one, two = two_nodes
    there = _owned_by(two, "box")
    handle = one.start(mailbox, id=there)  # routed to two, which owns its shard
    assert one.get_handle(there).query("got") == []
    handle.signal("put", "first")
    wait_for(lambda: handle.query("got") == ["first"], what="the routed signal recorded")
    handle.pause("a moment")
    assert two.get_handle(there).describe().status == "paused"
    handle.resume()
    handle.signal("put", "second")
    assert handle.result(10) == ["first", "second"]
    assert two.get_handle(there).result(1) == ["first", "second"]

    doomed = one.start(mailbox, id=_owned_by(two, "doomed"))
    doomed.cancel("not needed")
    with pytest.raises(aion.WorkflowCancelled):
        doomed.result(10)
    ended = one.start(mailbox, id=_owned_by(two, "ended"))
    ended.terminate("now")
    with pytest.raises(aion.WorkflowCancelled) as caught:
        ended.result(10)
    assert caught.value.terminated
    with pytest.raises(aion.NotRunning):
        ended.signal("put", "too late")


def test_typed_errors_cross_nodes_unchanged(two_nodes):
    one, two = two_nodes
    there = _owned_by(two, "err")
    one.start(mailbox, id=there)
    with pytest.raises(aion.WorkflowAlreadyExists):
        one.start(mailbox, id=there)
    with pytest.raises(aion.UnknownQuery):
        one.get_handle(there).query("nope")


def test_children_are_spread_over_nodes_and_report_to_their_parent(two_nodes):
    one, two = two_nodes
    assert one.start(family, 6, id="family").result(30) == [f"hello child {i}" for i in range(6)]


def test_a_node_that_closes_hands_its_shards_to_the_other(two_nodes, tmp_path):
    one, two = two_nodes
    there = _owned_by(two, "moving")
    handle = one.start(mailbox, id=there)
    handle.signal("put", "before")
    two.close()  # passivates its runs and releases its leases: one takes them at its next round
    wait_for(lambda: len(one._runtime.ownership.serving()) == 64, timeout=30, what="one owning every shard")
    handle.signal("put", "after")
    assert handle.result(10) == ["before", "after"]


def test_a_client_engine_owns_nothing_and_reaches_every_workflow(two_nodes, tmp_path):
    one, two = two_nodes
    with aion.Engine(f"sqlite:///{tmp_path}/aion.db", owns_shards=False) as client:
        assert client._runtime.ownership.serving() == frozenset()
        handles = [client.start(hello if i % 2 else "hello", f"n{i}", id=f"client-{i}") for i in range(6)]
        assert [h.result(10) for h in handles] == [f"hello n{i}" for i in range(6)]
        with pytest.raises(aion.UnknownWorkflowType):
            client.start("no_such_workflow", id="nope")  # checked by the owner of its shard
    assert {n.node_id for n in one._store.nodes(10)} == {"one", "two"}  # a client is not a node


def test_the_local_runtime_serves_its_store_alone(two_nodes, tmp_path):
    with pytest.raises(aion.AionError, match="runtime 'local' serves its store alone"):
        aion.Engine(f"sqlite:///{tmp_path}/aion.db", runtime="local", **APP).open()
    one, two = two_nodes
    assert {n.node_id for n in one._store.nodes(10)} == {"one", "two"}  # it left nothing behind
