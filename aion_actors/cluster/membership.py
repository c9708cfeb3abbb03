"""`Membership`: one node's part in the cluster, on a thread of its own.

Every round (each second, or each quarter of the lease timeout if shorter) the node:

1. heartbeats (its row in the store: identity, capabilities, load);
2. renews its leases in one statement; a shard whose lease lapsed is lost
   at once: the engine drops that shard's runs before anything else, and
   the store refuses their appends anyway (fencing tokens);
3. frees what dead nodes of this machine held (`liveness.dead_here`) and
   lets their request claims lapse, so their shards and requests move on
   without waiting for the lease timeout;
4. reads the view (live nodes by the store's clock, live leases) and does
   its part of `placement.plan`: acquire orphans and its share of a joining
   node's rebalance, hand off its excess (passivate, then release).

The store is the only coordinator: every node computes the same plan from
the same view, and the store's atomic lease writes settle any race (the
loser's acquire returns None and it tries again next round).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from stores.leases import LeaseRow, ShardLeases
from stores.tasks import TaskQueues

from . import liveness
from .ownership import Ownership
from .placement import my_actions, plan

log = logging.getLogger("aion_actors.cluster")

MAX_MOVES = 8  # rebalance handoffs per round: a joining node takes its share over a few rounds


@dataclass
class NodeHooks:
    """What the engine does when ownership changes (all called on the membership thread).

    gained(shards): make those shards' running workflows resident and arm their timers.
    lost(shards): drop those shards' resident runs now (another node may own them already).
    drain(shards): ask those shards' resident runs to passivate; return the shards with none left.
    release_claims(node_id): let the request claims of a dead node lapse.
    load(): the node's load figures for its heartbeat (resident runs, ...).
    """

    gained: Callable[[set[int]], None] = lambda shards: None
    lost: Callable[[set[int]], None] = lambda shards: None
    drain: Callable[[set[int]], set[int]] = lambda shards: set(shards)
    release_claims: Callable[[str], None] = lambda node_id: None
    load: Callable[[], dict[str, Any]] = dict


class Membership:
    """A node's heartbeat, leases and placement rounds.

    Args:
        leases: the store's `ShardLeases`.
        ownership: the shards held, shared with the engine (written only here).
        node_id: this node's id; a node restarted under the same id takes its shards back at once.
        ttl: the lease timeout in seconds.
        capabilities: what the node declares in its heartbeat.
        wake: the address other nodes poke to make it look at the inbox (None: none).
        takes_all: own every shard and never hand one off (runtime "local": its actor processes
            keep the tokens they were forked with).
    """

    def __init__(self, leases: ShardLeases, ownership: Ownership, node_id: str, ttl: float, *,
                 capabilities: Iterable[str] = (), wake: str | None = None, takes_all: bool = False) -> None:
        self.leases = leases
        self.ownership = ownership
        self.node_id = node_id
        self.ttl = ttl
        self.interval = min(1.0, ttl / 4)
        self.hooks = NodeHooks()
        self._info = {**liveness.identity(), "capabilities": sorted(capabilities), "wake": wake}
        self._draining: dict[int, float] = {}  # shard being handed off -> since when (monotonic)
        self.takes_all = takes_all
        self.directory = None  # a `WakeDirectory` kept up to date from each round's view
        self.joined = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="aion-membership", daemon=True)

    # -- lifecycle -------------------------------------------------------------

    def join(self) -> None:
        """Heartbeat, take back what an earlier life of this node id held, and do one round now,
        so a node alone owns every shard before its engine resumes anything."""
        self._heartbeat()
        for lease in self.leases.leases():
            if lease.owner == self.node_id:  # a previous process under our id: a new tenure fences it out
                self.leases.release(lease.shard, self.node_id, lease.token)
        self.joined = True
        self._round()

    def start(self, hooks: NodeHooks) -> None:
        self.hooks = hooks
        self._thread.start()

    def leave(self, drain_for: float) -> None:
        """Stop the rounds; hand every shard off (passivating its runs for up to `drain_for` seconds
        while other nodes are alive), release the leases and forget this node."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        mine = set(self.ownership.owned())
        others = [n for n in self.leases.nodes(self.ttl) if n.live and n.node_id != self.node_id]
        if mine and others and drain_for > 0:
            self.ownership.hand_off(mine)
            deadline = time.monotonic() + drain_for
            left = set(mine)
            while left and time.monotonic() < deadline:
                left -= self.hooks.drain(left)
                if left:
                    time.sleep(0.2)
        self._release(mine)
        self.leases.forget_node(self.node_id)
        self.joined = False

    def stop_quietly(self) -> None:
        """Stop the rounds without giving anything up (the process is going down hard)."""
        self._stop.set()

    # -- rounds ----------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self._round()
            except Exception:  # a store hiccup: leases are renewed next round, well within the timeout
                log.exception("node %s: membership round failed", self.node_id)

    def _heartbeat(self) -> None:
        load = self.hooks.load()
        self.leases.heartbeat(self.node_id, {**self._info, **load, "shards": len(self.ownership.owned())})

    def _round(self) -> None:
        self._heartbeat()
        owned = self.ownership.owned()
        if owned:
            held = self.leases.renew(self.node_id, owned, self.ttl)
            lost = set(owned) - held
            if lost:
                log.warning("node %s lost shards %s (lease lapsed): dropping their runs", self.node_id,
                            sorted(lost))
                self.ownership.lose(lost)
                self.hooks.lost(lost)
        nodes = self.leases.nodes(self.ttl)
        view = self.leases.leases()
        alive = set()
        for node in nodes:
            if node.node_id == self.node_id:
                alive.add(node.node_id)
            elif liveness.dead_here(node.info) or not node.live:
                self._bury(node.node_id, node.info, view)
            else:
                alive.add(node.node_id)
        if self.directory is not None:
            self.directory.update(nodes, view)
        owners = {lease.shard: lease.owner for lease in view if lease.live and lease.owner in alive}
        if self.takes_all:
            acquire, release = [s for s in range(self.ownership.shards) if owners.get(s) != self.node_id], []
        else:
            acquire, release = my_actions(self.node_id, plan(self.ownership.shards, alive, owners,
                                                              max_moves=MAX_MOVES))
        self._acquire(acquire)
        self._hand_off(set(release))

    def _bury(self, node_id: str, info: dict, view: list[LeaseRow]) -> None:
        """A dead node: free its leases at once if its process is known dead, let its claims lapse,
        and forget its row once it holds nothing. (Its shards are orphans in this round's plan,
        which counts only live owners, so they are acquired in this round once freed.)"""
        held = [lease for lease in view if lease.owner == node_id]
        if liveness.dead_here(info):
            for lease in held:
                self.leases.release(lease.shard, node_id, lease.token)
            held = []
        self.hooks.release_claims(node_id)
        if isinstance(self.leases, TaskQueues):
            self.leases.release_tasks(node_id)  # the attempts it ran as a worker: their owners retry them now
        if not any(lease.live for lease in held):
            self.leases.forget_node(node_id)
            log.info("node %s is dead; its shards are free", node_id)

    def _acquire(self, shards: list[int]) -> None:
        gained = {}
        for shard in shards:
            token = self.leases.acquire(shard, self.node_id, self.ttl)
            if token is not None:
                gained[shard] = token
        if gained:
            self.ownership.gain(gained)
            self.hooks.gained(set(gained))

    def _hand_off(self, shards: set[int]) -> None:
        """Passivate, then release, the shards the plan gives away; past a lease timeout, release anyway.

        A shard the plan no longer gives away (its taker died meanwhile) is served here again.
        """
        now = time.monotonic()
        owned = self.ownership.owned()
        kept = {s: t for s, t in owned.items() if s not in self.ownership.serving() and s not in shards}
        if kept:
            self.ownership.gain(kept)
            self.hooks.gained(set(kept))
        self._draining = {s: self._draining.get(s, now) for s in shards}
        if not shards:
            return
        self.ownership.hand_off(shards)
        ready = self.hooks.drain(shards)
        # Runs that would not passivate (a long activity): their next owner replays them.
        ready |= {s for s, since in self._draining.items() if now - since >= self.ttl}
        self._release(ready)

    def _release(self, shards: Iterable[int]) -> None:
        shards = set(shards)
        if not shards:
            return
        tokens = {s: t for s, t in self.ownership.owned().items() if s in shards}
        self.ownership.lose(tokens)  # first: nothing of ours is appended to them from now on
        self.hooks.lost(set(tokens))
        for shard, token in tokens.items():
            self.leases.release(shard, self.node_id, token)
