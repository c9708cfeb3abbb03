"""Shard placement and node liveness as small pure functions (no actors, no store, no clocks).

Every node reads the same view from the store (the live nodes, who owns
each shard) and computes the same plan from it; the node then does its own
part of the plan and the store's fenced lease writes settle any race. So
every rule here is a function of plain data, tested from tables, in the
manner of Akka Cluster Sharding's ``LeastShardAllocationStrategy``:

- `target_counts(shards, nodes, holding=...)`: how many shards each node
  should own (an even spread; the remainder stays with nodes that already
  hold it, then goes to the first nodes by id).
- `plan(shards, alive, owners, max_moves=..., leaving=...)`: one round of
  placement: free and orphaned shards to acquire, over-loaded owners'
  shards to hand off (at most `max_moves` a round), and every shard of a
  leaving node to release.
- `my_actions(node, plan)`: what one node does this round.
- `lease_lapsed(...)` and `HeartbeatObserver`: a node is dead when its
  heartbeat counter has not moved for a lease's time on the observer's own
  monotonic clock; wall clocks of different machines are never compared.

A round is applied as: acquisitions take the lease (the store increments
the shard's fencing token), releases happen after the owner has passivated
the shard's runs; a released shard is free in the next round's view, where
the node short of its target acquires it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Hashable, Iterable, Mapping

from ..errors import InvalidArgument

Node = Hashable  # a node id; any sortable value (the engine uses strings)


def target_counts(shards: int, nodes: Iterable[Node],
                  holding: Mapping[Node, int] | None = None) -> dict[Node, int]:
    """How many of `shards` each node should own.

    Every node gets ``shards // len(nodes)``; the remainder (one extra
    each) goes first to nodes that already hold at least that many
    (`holding`), in id order, then to the other nodes in id order. So a
    balanced cluster is never churned for the remainder's sake, and every
    node computes the same answer from the same view.

    Args:
        shards: the number of shards (at least 1).
        nodes: the live nodes taking shards (order does not matter).
        holding: how many shards each node owns now (default: none).

    Returns:
        node → target, for every node; the targets sum to `shards` (an
        empty dict when there are no nodes).

    Raises:
        InvalidArgument: `shards` is below 1.
    """
    _check_shards(shards)
    ordered = sorted(set(nodes))
    if not ordered:
        return {}
    base, extra = divmod(shards, len(ordered))
    holding = holding or {}
    # Nodes already at the higher count keep it, so a join or a death does not shuffle the remainder.
    keep = [n for n in ordered if holding.get(n, 0) > base]
    order = keep + [n for n in ordered if n not in keep]
    favoured = set(order[:extra])
    return {n: base + (n in favoured) for n in ordered}


@dataclass(frozen=True, slots=True)
class Move:
    """One shard changing hands.

    Attributes:
        shard: the shard number.
        source: the owner giving it up: a live node for a handoff; for an
            acquisition the previous owner (a dead or unknown node) or None
            when the shard had no owner.
        target: the node meant to own it next (None when no node is left
            to take a leaving node's shard).
    """

    shard: int
    source: Node | None
    target: Node | None


@dataclass(frozen=True, slots=True)
class Plan:
    """One round of placement, the same on every node that has the same view.

    Attributes:
        acquisitions: free or orphaned shards and the node that takes each
            now (its lease; the old owner, if any, is dead or unknown).
        handoffs: shards a live owner releases after passivating their
            runs, in shard order; their targets acquire them next round.
            Those of a leaving node are all here; the others are a
            rebalance and number at most the round's `max_moves`.
        targets: node → how many shards it should own.
    """

    acquisitions: tuple[Move, ...] = ()
    handoffs: tuple[Move, ...] = ()
    targets: Mapping[Node, int] = field(default_factory=dict)


def plan(shards: int, alive: Iterable[Node], owners: Mapping[int, Node | None], *,
         max_moves: int, leaving: Iterable[Node] = ()) -> Plan:
    """One round of placement from one view of the cluster.

    Guarantees:

    - Every shard without a live owner (no owner, or an owner not in
      `alive`) is acquired this round by a live, non-leaving node, the
      ones furthest below their target first; nobody waits for a
      rebalance limit to get an orphan back.
    - A leaving node (alive, stopping cleanly) hands off every shard it
      owns this round, whatever `max_moves` says: it is about to exit.
    - A node over its target hands off its excess (highest shard numbers
      first, taken from the most over-loaded node first), at most
      `max_moves` of these a round, so a joining node takes its share
      gradually and the rest of the cluster keeps running.
    - A shard never moves between two live nodes both within their
      target: a balanced cluster gets an empty plan.
    - Applied round after round (acquire, release, read the view again),
      every shard ends owned by one live non-leaving node, and their
      counts differ by at most one.
    - Same inputs, same plan, whatever the order of `alive` or `owners`.
      So a handoff still in progress (the owner is passivating; the view
      still shows it as owner) is planned again as the same shards, never
      as others beside it: a node ignores a release it is already doing,
      and at most `max_moves` rebalance handoffs are ever in flight.

    Args:
        shards: the number of shards; shard numbers are ``0 .. shards-1``.
        alive: the nodes whose heartbeat is current (leaving ones included).
        owners: shard → current owner (None or absent: no owner).
        max_moves: the most rebalance handoffs in one round (at least 1).
        leaving: live nodes that are stopping and take no shards.

    Raises:
        InvalidArgument: `shards` or `max_moves` below 1, or a shard number
            in `owners` out of range.
    """
    _check_shards(shards)
    if max_moves < 1:
        raise InvalidArgument(f"max_moves must be at least 1 (got {max_moves!r}): with 0 a joining node "
                              "would never get its share")
    bad = sorted((s for s in owners if not (isinstance(s, int) and 0 <= s < shards)), key=str)
    if bad:
        raise InvalidArgument(f"shard numbers {bad} are out of range 0..{shards - 1}: the view was read "
                              "from a store with a different shard count")
    alive = set(alive)
    leaving = set(leaving) & alive  # a leaving node that died is just dead: its shards are orphans
    active = alive - leaving
    owned: dict[Node, list[int]] = {n: [] for n in active}
    orphans: list[int] = []
    departing: list[tuple[int, Node]] = []
    for shard in range(shards):
        owner = owners.get(shard)
        if owner in active:
            owned[owner].append(shard)
        elif owner in leaving:
            departing.append((shard, owner))
        else:
            orphans.append(shard)
    targets = target_counts(shards, active, {n: len(s) for n, s in owned.items()}) if active else {}
    deficit = {n: targets[n] - len(owned[n]) for n in active}

    acquisitions = tuple(Move(shard, owners.get(shard), _neediest(deficit)) for shard in orphans)
    excess = _excess(owned, targets, max_moves)
    handoffs = [Move(shard, owner, _neediest(deficit)) for shard, owner in departing + excess]
    return Plan(acquisitions, tuple(sorted(handoffs, key=lambda m: m.shard)), targets)


def my_actions(node: Node, round_plan: Plan) -> tuple[list[int], list[int]]:
    """What `node` does this round: ``(acquire, release)`` shard numbers, each ascending.

    Acquire means take the lease now (fencing out any former owner);
    release means passivate that shard's runs, then give the lease up.
    """
    acquire = sorted(m.shard for m in round_plan.acquisitions if m.target == node)
    release = sorted(m.shard for m in round_plan.handoffs if m.source == node)
    return acquire, release


def lease_lapsed(last_counter: int, counter_now: int, unchanged_for: float, ttl: float) -> bool:
    """Whether a node's lease has lapsed, judged by its heartbeat counter.

    Args:
        last_counter: the counter the observer saw before.
        counter_now: the counter it reads now.
        unchanged_for: for how long, on the observer's own monotonic clock,
            it has seen `last_counter`.
        ttl: the lease timeout, in seconds.

    Returns:
        True when the counter has not moved for at least `ttl`; any change
        (even backwards: a restarted node) means the node is alive.
    """
    return counter_now == last_counter and unchanged_for >= ttl


class HeartbeatObserver:
    """Who is dead, by watching heartbeat counters on one's own monotonic clock.

    Feed it every snapshot read from the store (node → heartbeat counter)
    with ``time.monotonic()`` taken when it was read. A node is dead when
    its counter has stayed the same for `ttl` seconds of the observer's
    time; a node first seen gets a whole `ttl` from then. A node missing
    from a snapshot (its row deleted on a clean stop) is forgotten.

    Judging only from counters observed here means a frozen observer that
    wakes up does not declare everyone dead: its next snapshot shows the
    counters that moved meanwhile, and those nodes are alive.
    """

    def __init__(self, ttl: float) -> None:
        if ttl <= 0:
            raise InvalidArgument(f"the lease timeout must be positive (got {ttl!r} s)")
        self.ttl = ttl
        self._seen: dict[Node, tuple[int, float]] = {}  # node -> (counter, when it was first seen at that value)

    def observe(self, counters: Mapping[Node, int], now: float) -> frozenset:
        """Take a snapshot read at `now`; return the nodes in it that are dead."""
        seen = {}
        for node, counter in counters.items():
            previous = self._seen.get(node)
            if previous is None or previous[0] != counter:
                seen[node] = (counter, now)
            else:
                seen[node] = previous
        self._seen = seen
        return frozenset(n for n, (c, since) in seen.items() if lease_lapsed(c, counters[n], now - since, self.ttl))


# -- helpers ---------------------------------------------------------------------------------

def _check_shards(shards: int) -> None:
    if not isinstance(shards, int) or shards < 1:
        raise InvalidArgument(f"the shard count must be a positive integer (got {shards!r})")


def _neediest(deficit: dict[Node, int]) -> Node | None:
    """The node furthest below its target (lowest id on a tie), charged one shard; None if no node."""
    if not deficit:
        return None
    node = min(deficit, key=lambda n: (-deficit[n], n))
    deficit[node] -= 1
    return node


def _excess(owned: Mapping[Node, list[int]], targets: Mapping[Node, int], limit: int) -> list[tuple[int, Node]]:
    """Up to `limit` (shard, owner) pairs over their owners' targets, one at a time from the most over-loaded."""
    over = {n: sorted(s) for n, s in owned.items() if len(s) > targets[n]}
    picked: list[tuple[int, Node]] = []
    while over and len(picked) < limit:
        node = min(over, key=lambda n: (targets[n] - len(over[n]), n))
        picked.append((over[node].pop(), node))
        if len(over[node]) <= targets[node]:
            del over[node]
    return picked
