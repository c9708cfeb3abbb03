"""`WakeDirectory`: whom to poke so that a workflow's request is seen at once.

A request for another node's workflow waits in the store until the owner of
its shard claims it; a wake-up to that owner's `Waker` makes it look now
instead of at its next poll. The directory maps shards to the wake
addresses their owners advertise in their heartbeats. A node fills it from
the view its membership rounds read anyway; a client reads the view itself
when its copy is a second old. A wrong or missing address only costs a poll
interval: the store stays the truth.
"""

from __future__ import annotations

import threading
import time
from typing import Iterable

from stores.leases import LeaseRow, NodeRow, ShardLeases, shard_of

STALE_AFTER = 1.0  # seconds a client's copy of the view is used before it is read again


class WakeDirectory:
    """Shard → wake address of its owner, from one view of the cluster.

    Args:
        leases: the store's `ShardLeases`, read when the view is stale (None: only `update` fills it).
        shards: the store's shard count.
    """

    def __init__(self, leases: ShardLeases | None, shards: int) -> None:
        self._leases = leases
        self._shards = shards
        self._by_shard: dict[int, str] = {}
        self._everyone: tuple[str, ...] = ()
        self._read_at = -STALE_AFTER
        self._lock = threading.Lock()

    def update(self, nodes: Iterable[NodeRow], leases: Iterable[LeaseRow]) -> None:
        wake = {n.node_id: n.info.get("wake") for n in nodes if n.live and isinstance(n.info.get("wake"), str)}
        self._by_shard = {lease.shard: wake[lease.owner] for lease in leases
                          if lease.live and lease.owner in wake}
        self._everyone = tuple(sorted(set(wake.values())))
        self._read_at = time.monotonic()

    def addresses_for(self, workflow_id: str | None) -> tuple[str, ...]:
        """Whom to poke for a request about `workflow_id`: its shard's owner, or every live node
        when that shard has no live owner (one of them takes it over) or there is no workflow."""
        if self._leases is not None and time.monotonic() - self._read_at >= STALE_AFTER:
            with self._lock:
                if time.monotonic() - self._read_at >= STALE_AFTER:
                    self.update(self._leases.nodes(STALE_AFTER * 10), self._leases.leases())
        if workflow_id is not None:
            owner = self._by_shard.get(shard_of(workflow_id, self._shards))
            if owner is not None:
                return (owner,)
        return self._everyone
