"""The `ShardLeases` contract: which node owns which shard, judged by the store's clock.

Workflows map to a fixed number of shards (`shard_of`), set when the store is
created and kept in it. Each shard has at most one owner at a time, through
a lease that carries a fencing token: a node that takes a shard over
increments its token, and every append of that shard's workflows may carry
`Append.fence = (shard, token)`, checked in the append's own transaction
(`EventStore.append_batch`). A stale owner's append is then refused with
`StaleFence` and nothing of it is written, as Temporal's history writes are
conditional on the shard's `range_id`.

There is one clock: the store's (`now()`). Lease expiries and heartbeat ages
are computed by it, never by comparing the wall clocks of different machines.

The bundled stores (`InMemoryStore`, `SqlStore`) implement this next to
`EventStore` and `RequestInbox`. Check a store of your own with
`stores.conformance_leases.ShardLeasesConformance`.
"""

from __future__ import annotations

import abc
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable

DEFAULT_SHARDS = 64


def shard_of(workflow_id: str, shards: int) -> int:
    """The shard of a workflow: CRC-32 of its UTF-8 id, modulo `shards`.

    Stable across processes, machines and Python versions (unlike `hash()`),
    so every node and the store agree on it.
    """
    return zlib.crc32(workflow_id.encode("utf-8")) % shards


@dataclass(frozen=True, slots=True)
class NodeRow:
    """A node as its last heartbeat left it.

    `heartbeat_at` is the store's time of that heartbeat, `beats` how many it
    has sent, `age` how long ago by the store's clock, and `live` whether
    that age is within the `ttl` given to `nodes`.
    """

    node_id: str
    info: dict[str, Any]
    heartbeat_at: datetime
    beats: int
    age: timedelta
    live: bool


@dataclass(frozen=True, slots=True)
class LeaseRow:
    """One shard's lease: `owner` is `None` for a shard never taken or released.

    `token` is the fencing token (0 before the first owner); `live` whether
    `expires_at` is still ahead of the store's clock.
    """

    shard: int
    owner: str | None
    token: int
    expires_at: datetime | None
    live: bool


class ShardLeases(abc.ABC):
    """Nodes' heartbeats and shard leases, on the store's clock.

    Every method may raise `StoreError` when the backend fails, and
    `StoreError` for malformed arguments (an empty node id, a shard out of
    range, a ttl that is not a positive number) before anything is written.
    Callers may be threads or processes of several machines.
    """

    @abc.abstractmethod
    def shard_count(self) -> int:
        """The number of shards, fixed when the store was created."""

    @abc.abstractmethod
    def now(self) -> datetime:
        """The store's clock (aware, UTC): the one every lease and heartbeat is judged by."""

    @abc.abstractmethod
    def heartbeat(self, node_id: str, info: dict[str, Any]) -> None:
        """Record that the node is alive: upsert its row with the store's now, one more beat, and `info`.

        Raises:
            StoreError: `info` is not a dict JSON can encode.
        """

    @abc.abstractmethod
    def nodes(self, ttl: float) -> list[NodeRow]:
        """Every node that ever sent a heartbeat, by node id; `live` when its last one is within `ttl` seconds."""

    @abc.abstractmethod
    def forget_node(self, node_id: str) -> bool:
        """Delete a node's heartbeat row (a node that left for good). Its leases are untouched.

        Returns:
            True when the row existed.
        """

    @abc.abstractmethod
    def acquire(self, shard: int, node_id: str, ttl: float) -> int | None:
        """Take or extend the shard's lease for `ttl` seconds of store time.

        Atomic: of several nodes racing for one shard, in any threads or
        processes, exactly one gets it. The shard is taken when it has no
        owner, its lease has lapsed, or its live lease is already
        `node_id`'s. A new tenure (any case but the last) increments the
        fencing token; extending a live lease of ours keeps it.

        Returns:
            The fencing token to put in `Append.fence`, or `None` when
            another node holds a live lease (nothing changed).
        """

    @abc.abstractmethod
    def renew(self, node_id: str, shards: Iterable[int], ttl: float) -> set[int]:
        """Extend, in one step, the live leases `node_id` holds among `shards` to `ttl` seconds from now.

        A lapsed lease is not renewed, even if nobody took it yet: the node
        must `acquire` it again and use the new token.

        Returns:
            The shards still held; one lost meanwhile is missing.
        """

    @abc.abstractmethod
    def release(self, shard: int, node_id: str, token: int) -> bool:
        """Give the shard up (graceful handoff): only its owner, with the current token, may.

        The token is kept, so the next owner's is greater.

        Returns:
            True when it was released; False when `node_id` with `token`
            did not hold it (nothing changed).
        """

    @abc.abstractmethod
    def leases(self) -> list[LeaseRow]:
        """Every shard's lease, by shard (all `shard_count()` of them)."""

    def close(self) -> None:
        """Release connections; unusable afterwards. Closing twice is harmless."""
