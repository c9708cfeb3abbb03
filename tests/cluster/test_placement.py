"""Shard placement and liveness rules as tables and properties, without processes (Akka Cluster Sharding's way)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aion_actors import InvalidArgument
from aion_actors.cluster.placement import HeartbeatObserver, Move, Plan, lease_lapsed, my_actions, plan, target_counts


def owners_of(**held: list[int]) -> dict[int, str]:
    return {shard: node for node, shards in held.items() for shard in shards}


def apply(shards: int, owners: dict, round_plan: Plan) -> dict:
    """What the nodes do with a plan: take the acquired leases, give the handed-off ones up."""
    after = {s: owners.get(s) for s in range(shards)}
    for move in round_plan.acquisitions:
        after[move.shard] = move.target
    for move in round_plan.handoffs:
        after[move.shard] = None
    return after


def settle(shards, alive, owners, *, max_moves, leaving=(), rounds=None):
    """Apply plans until one is empty; return the owners and every plan."""
    plans = []
    for _ in range(rounds or 4 * shards + 4):
        round_plan = plan(shards, alive, owners, max_moves=max_moves, leaving=leaving)
        if not round_plan.acquisitions and not round_plan.handoffs:
            return owners, plans
        plans.append(round_plan)
        owners = apply(shards, owners, round_plan)
    raise AssertionError(f"no fixed point after {len(plans)} rounds: {owners}")


def counts(owners) -> dict:
    tally: dict = {}
    for node in owners.values():
        tally[node] = tally.get(node, 0) + 1
    return tally


# -- target_counts -------------------------------------------------------------------------

@pytest.mark.parametrize("shards,nodes,holding,expected", [
    (8, ["a"], None, {"a": 8}),
    (8, ["b", "a"], None, {"a": 4, "b": 4}),
    (10, ["c", "a", "b"], None, {"a": 4, "b": 3, "c": 3}),  # remainder to the first ids
    (11, ["a", "b", "c"], None, {"a": 4, "b": 4, "c": 3}),
    (10, ["a", "b", "c"], {"c": 4, "a": 3, "b": 3}, {"a": 3, "b": 3, "c": 4}),  # remainder stays where it is
    (10, ["a", "b", "c"], {"b": 9}, {"a": 3, "b": 4, "c": 3}),
    (2, ["a", "b", "c", "d"], None, {"a": 1, "b": 1, "c": 0, "d": 0}),  # more nodes than shards
    (2, ["a", "b", "c", "d"], {"d": 1, "c": 1}, {"a": 0, "b": 0, "c": 1, "d": 1}),
    (5, [], None, {}),
])
def test_target_counts(shards, nodes, holding, expected):
    assert target_counts(shards, nodes, holding) == expected
    if nodes:
        assert sum(expected.values()) == shards


@pytest.mark.parametrize("shards", [0, -3, 2.5, None])
def test_target_counts_rejects_a_bad_shard_count(shards):
    with pytest.raises(InvalidArgument, match="shard count"):
        target_counts(shards, ["a"])


# -- plan: the tables ----------------------------------------------------------------------

def test_one_node_takes_every_free_shard_at_once():
    round_plan = plan(4, ["a"], {}, max_moves=1)
    assert my_actions("a", round_plan) == ([0, 1, 2, 3], [])
    assert round_plan.handoffs == ()
    assert all(m.source is None for m in round_plan.acquisitions)


def test_a_second_node_joins_and_gets_half_through_limited_handoffs():
    owners = owners_of(a=list(range(8)))
    first = plan(8, ["a", "b"], owners, max_moves=2)
    assert first.acquisitions == ()
    assert first.handoffs == (Move(6, "a", "b"), Move(7, "a", "b"))  # highest shards first, two a round
    assert my_actions("a", first) == ([], [6, 7])
    assert my_actions("b", first) == ([], [])
    second = plan(8, ["a", "b"], apply(8, owners, first), max_moves=2)
    assert my_actions("b", second)[0] == [6, 7]  # released shards are free: the joiner takes them
    assert my_actions("a", second)[1] == [4, 5]
    final, plans = settle(8, ["a", "b"], owners, max_moves=2)
    assert counts(final) == {"a": 4, "b": 4}
    assert sorted(s for s, n in final.items() if n == "b") == [4, 5, 6, 7]
    assert len(plans) == 3  # two rounds of two handoffs, then the last acquisitions


def test_a_third_node_joins_taking_from_both():
    owners = owners_of(a=[0, 1, 2, 3, 4], b=[5, 6, 7, 8, 9])
    first = plan(10, ["a", "b", "c"], owners, max_moves=10)
    assert first.targets == {"a": 4, "b": 3, "c": 3}
    assert first.handoffs == (Move(4, "a", "c"), Move(8, "b", "c"), Move(9, "b", "c"))
    final, _ = settle(10, ["a", "b", "c"], owners, max_moves=10)
    assert counts(final) == {"a": 4, "b": 3, "c": 3}
    assert [s for s, n in final.items() if n == "a"] == [0, 1, 2, 3]  # a kept what it did not have to give


def test_a_dead_nodes_shards_are_acquired_at_once_by_the_survivors():
    owners = owners_of(a=[0, 1, 2], b=[3, 4, 5], c=[6, 7, 8])
    round_plan = plan(9, ["a", "c"], owners, max_moves=1)  # b's lease lapsed
    assert round_plan.handoffs == ()
    assert round_plan.acquisitions == (Move(3, "b", "a"), Move(4, "b", "a"), Move(5, "b", "c"))
    assert counts(apply(9, owners, round_plan)) == {"a": 5, "c": 4}


def test_a_leaving_node_hands_off_everything_in_one_round_whatever_the_limit():
    owners = owners_of(a=[0, 1, 2], b=[3, 4, 5])
    round_plan = plan(6, ["a", "b"], owners, max_moves=1, leaving=["b"])
    assert my_actions("b", round_plan) == ([], [3, 4, 5])
    assert [m.target for m in round_plan.handoffs] == ["a", "a", "a"]
    final, _ = settle(6, ["a", "b"], owners, max_moves=1, leaving=["b"])
    assert counts(final) == {"a": 6}


def test_the_last_node_leaving_releases_its_shards_to_no_one():
    round_plan = plan(3, ["a"], owners_of(a=[0, 1, 2]), max_moves=1, leaving=["a"])
    assert round_plan.handoffs == tuple(Move(s, "a", None) for s in range(3))
    assert round_plan.acquisitions == ()


def test_uneven_remainder_is_not_churned():
    owners = owners_of(a=[0, 1, 2], b=[3, 4, 5], c=[6, 7, 8, 9])  # c holds the remainder, not a
    round_plan = plan(10, ["a", "b", "c"], owners, max_moves=5)
    assert (round_plan.acquisitions, round_plan.handoffs) == ((), ())
    assert round_plan.targets == {"a": 3, "b": 3, "c": 4}


def test_more_nodes_than_shards():
    final, _ = settle(3, ["a", "b", "c", "d", "e"], {}, max_moves=1)
    assert sorted(counts(final).values()) == [1, 1, 1]
    balanced = owners_of(d=[0], e=[1], a=[2])
    assert plan(3, ["a", "b", "c", "d", "e"], balanced, max_moves=1).handoffs == ()


def test_a_handoff_in_progress_is_planned_again_as_the_same_shards():
    owners = owners_of(a=list(range(6)))
    first = plan(6, ["a", "b"], owners, max_moves=1)
    again = plan(6, ["a", "b"], owners, max_moves=1)  # a is still passivating shard 5: the view did not change
    assert first.handoffs == again.handoffs == (Move(5, "a", "b"),)


def test_a_leaving_node_that_died_is_dead_its_shards_are_acquired():
    round_plan = plan(4, ["a"], owners_of(a=[0, 1], b=[2, 3]), max_moves=1, leaving=["b"])
    assert round_plan.handoffs == ()
    assert my_actions("a", round_plan) == ([2, 3], [])


def test_no_live_node_leaves_orphans_unowned():
    round_plan = plan(2, [], owners_of(a=[0, 1]), max_moves=1)
    assert round_plan.acquisitions == (Move(0, "a", None), Move(1, "a", None))
    assert my_actions("a", round_plan) == ([], [])


def test_same_view_same_plan_whatever_the_order():
    owners = owners_of(a=[0, 1, 2, 3, 4, 5, 6], b=[7])
    one = plan(12, ["c", "a", "b"], dict(sorted(owners.items())), max_moves=2)
    two = plan(12, ["b", "c", "a"], dict(sorted(owners.items(), reverse=True)), max_moves=2)
    assert one == two


@pytest.mark.parametrize("kwargs,match", [
    (dict(shards=0, alive=["a"], owners={}, max_moves=1), "shard count"),
    (dict(shards=4, alive=["a"], owners={}, max_moves=0), "max_moves"),
    (dict(shards=4, alive=["a"], owners={4: "a", -1: "a"}, max_moves=1), r"\[-1, 4\] are out of range 0..3"),
])
def test_plan_rejects_bad_inputs(kwargs, match):
    with pytest.raises(InvalidArgument, match=match):
        plan(**kwargs)


# -- plan: properties ----------------------------------------------------------------------

NODES = ["n0", "n1", "n2", "n3", "n4", "n5"]


@st.composite
def views(draw):
    shards = draw(st.integers(1, 40))
    alive = draw(st.sets(st.sampled_from(NODES), min_size=1))
    owner = st.one_of(st.none(), st.sampled_from(NODES + ["gone"]))
    owners = draw(st.dictionaries(st.integers(0, shards - 1), owner))
    return shards, sorted(alive), owners


@settings(max_examples=300, deadline=None)
@given(views(), st.integers(1, 5))
def test_rounds_converge_to_one_live_owner_each_and_an_even_spread(view, max_moves):
    shards, alive, owners = view
    rounds = 0
    while True:
        round_plan = plan(shards, alive, owners, max_moves=max_moves)
        assert len(round_plan.handoffs) <= max_moves
        assert all(m.target in alive for m in round_plan.acquisitions + round_plan.handoffs)
        assert all(m.source in alive for m in round_plan.handoffs)
        assert all(owners.get(m.shard) not in alive for m in round_plan.acquisitions)
        held = counts(owners)
        for move in round_plan.handoffs:  # only from a node over its target, only to one under it
            assert held[move.source] > round_plan.targets[move.source]
            assert held.get(move.target, 0) < round_plan.targets[move.target]
        if not round_plan.acquisitions and not round_plan.handoffs:
            break
        owners = apply(shards, owners, round_plan)
        rounds += 1
        assert rounds <= 2 * shards + 2
    assert all(owners.get(s) in alive for s in range(shards))
    tally = [counts(owners).get(n, 0) for n in alive]
    assert max(tally) - min(tally) <= 1


@settings(max_examples=200, deadline=None)
@given(views(), st.integers(1, 5), st.data())
def test_leaving_nodes_hand_off_all_their_shards_in_one_round(view, max_moves, data):
    shards, alive, owners = view
    leaving = data.draw(st.sets(st.sampled_from(alive)))
    round_plan = plan(shards, alive, owners, max_moves=max_moves, leaving=leaving)
    for node in leaving:
        held = sorted(s for s, n in owners.items() if n == node)
        assert my_actions(node, round_plan) == ([], held)
    rebalance = [m for m in round_plan.handoffs if m.source not in leaving]
    assert len(rebalance) <= max_moves
    staying = sorted(set(alive) - leaving)
    if staying:
        final, _ = settle(shards, alive, owners, max_moves=max_moves, leaving=leaving)
        assert all(final[s] in staying for s in range(shards))


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 40), st.sets(st.sampled_from(NODES), min_size=1), st.integers(1, 5))
def test_a_balanced_cluster_gets_an_empty_plan(shards, alive, max_moves):
    settled, _ = settle(shards, alive, {}, max_moves=max_moves)
    again = plan(shards, alive, settled, max_moves=max_moves)
    assert (again.acquisitions, again.handoffs) == ((), ())


# -- liveness ------------------------------------------------------------------------------

@pytest.mark.parametrize("last,now,unchanged_for,ttl,lapsed", [
    (5, 5, 9.9, 10, False),
    (5, 5, 10.0, 10, True),
    (5, 6, 60.0, 10, False),  # it moved: alive, however long since we last looked
    (5, 0, 60.0, 10, False),  # it went back: a restarted node is alive too
])
def test_lease_lapsed(last, now, unchanged_for, ttl, lapsed):
    assert lease_lapsed(last, now, unchanged_for, ttl) is lapsed


def test_observer_declares_dead_only_after_a_full_ttl_of_its_own_time():
    observer = HeartbeatObserver(ttl=3)
    assert observer.observe({"a": 1, "b": 1}, now=100.0) == frozenset()
    assert observer.observe({"a": 2, "b": 1}, now=102.0) == frozenset()
    assert observer.observe({"a": 3, "b": 1}, now=103.0) == {"b"}
    assert observer.observe({"a": 3, "b": 1}, now=105.9) == {"b"}
    assert observer.observe({"a": 3, "b": 1}, now=106.0) == {"a", "b"}
    assert observer.observe({"a": 3, "b": 2}, now=106.1) == {"a"}  # b beat again


def test_observer_gives_a_newcomer_a_whole_ttl_and_forgets_who_left():
    observer = HeartbeatObserver(ttl=1)
    observer.observe({"a": 7}, now=0.0)
    assert observer.observe({"a": 8, "b": 900}, now=0.5) == frozenset()
    assert observer.observe({"a": 9, "b": 900}, now=1.25) == frozenset()
    assert observer.observe({"a": 10, "b": 900}, now=1.5) == {"b"}
    assert observer.observe({"a": 11}, now=1.75) == frozenset()  # b's row is gone: left cleanly
    assert observer.observe({"a": 12, "b": 900}, now=2.0) == frozenset()  # back: a fresh ttl
    assert observer.observe({"a": 13, "b": 900}, now=3.0) == {"b"}


def test_a_frozen_observer_waking_up_does_not_declare_the_living_dead():
    observer = HeartbeatObserver(ttl=2)
    observer.observe({"a": 1, "b": 1}, now=0.0)
    # The observer was stopped for a minute; a kept beating, b did not.
    assert observer.observe({"a": 40, "b": 1}, now=60.0) == {"b"}


@pytest.mark.parametrize("ttl", [0, -1])
def test_observer_rejects_a_non_positive_ttl(ttl):
    with pytest.raises(InvalidArgument, match="lease timeout"):
        HeartbeatObserver(ttl)
