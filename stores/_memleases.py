"""The `ShardLeases` of `InMemoryStore`: leases and heartbeats behind the store's one lock.

Private to `stores.memory`. The clock is injectable so tests move time
instead of sleeping through a lease.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable

from ._checks import check_node, check_shard, check_ttl, encode_info
from .base import Append
from .errors import StaleFence
from .leases import LeaseRow, NodeRow, ShardLeases


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class _Lease:
    owner: str | None = None
    token: int = 0
    expires_at: datetime | None = None

    def live(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at >= now


class MemoryLeases(ShardLeases):
    """Needs the host's `_lock`; `_init_leases` sets the rest."""

    _lock: threading.Lock

    def _init_leases(self, shards: int, clock: Callable[[], datetime] | None) -> None:
        self._shards = shards
        self._clock = clock or utc_now
        self._leases = [_Lease() for _ in range(shards)]
        self._nodes: dict[str, tuple[str, datetime, int]] = {}  # id -> (info JSON, heartbeat, beats)

    def _stale(self, append: Append) -> StaleFence | None:
        """The refusal of an append whose fence is stale (call under the lock)."""
        if append.fence is None:
            return None
        shard, token = append.fence
        current = self._leases[shard].token
        return None if token == current else StaleFence(append.workflow_id, shard, token, current)

    def shard_count(self) -> int:
        return self._shards

    def now(self) -> datetime:
        return self._clock()

    def heartbeat(self, node_id: str, info: dict[str, Any]) -> None:
        check_node(node_id)
        text = encode_info(info)
        with self._lock:
            beats = self._nodes[node_id][2] if node_id in self._nodes else 0
            self._nodes[node_id] = (text, self._clock(), beats + 1)

    def nodes(self, ttl: float) -> list[NodeRow]:
        check_ttl(ttl)
        with self._lock:
            now, rows = self._clock(), sorted(self._nodes.items())
        return [NodeRow(node_id, json.loads(text), at, beats, now - at, now - at <= timedelta(seconds=ttl))
                for node_id, (text, at, beats) in rows]

    def forget_node(self, node_id: str) -> bool:
        with self._lock:
            return self._nodes.pop(node_id, None) is not None

    def acquire(self, shard: int, node_id: str, ttl: float) -> int | None:
        check_shard(shard, self._shards)
        check_node(node_id)
        check_ttl(ttl)
        with self._lock:
            lease, now = self._leases[shard], self._clock()
            live = lease.live(now)
            if live and lease.owner != node_id:
                return None
            if not (live and lease.owner == node_id):
                lease.owner, lease.token = node_id, lease.token + 1
            lease.expires_at = now + timedelta(seconds=ttl)
            return lease.token

    def renew(self, node_id: str, shards: Iterable[int], ttl: float) -> set[int]:
        check_node(node_id)
        check_ttl(ttl)
        wanted = set(shards)
        for shard in wanted:
            check_shard(shard, self._shards)
        with self._lock:
            now = self._clock()
            held = {s for s in wanted if self._leases[s].owner == node_id and self._leases[s].live(now)}
            for shard in held:
                self._leases[shard].expires_at = now + timedelta(seconds=ttl)
            return held

    def release(self, shard: int, node_id: str, token: int) -> bool:
        check_shard(shard, self._shards)
        check_node(node_id)
        with self._lock:
            lease = self._leases[shard]
            if lease.owner != node_id or lease.token != token:
                return False
            lease.owner, lease.expires_at = None, None
            return True

    def leases(self) -> list[LeaseRow]:
        with self._lock:
            now = self._clock()
            return [LeaseRow(shard, lease.owner, lease.token, lease.expires_at, lease.live(now))
                    for shard, lease in enumerate(self._leases)]
