"""The `ShardLeases` of `SqlStore`, on SQLite and PostgreSQL alike, and the shard count it keeps.

Every lease decision is one conditional statement judged by the database's
own clock (`store_now`): SQLite `julianday('now')`, PostgreSQL
`statement_timestamp()`, both as integer microseconds since the epoch like
the other timestamps. Taking a shard is an `UPDATE ... WHERE <free, lapsed
or ours> RETURNING token` of its row (created with the store): PostgreSQL's
row lock makes a racing second `UPDATE` re-check that condition against the
winner's row and match nothing, SQLite's `BEGIN IMMEDIATE` lets one writer
in at a time; either way exactly one node gets a shard.

On PostgreSQL an UPDATE of several lease rows (`renew`) may deadlock with an
append's `FOR SHARE` of the same rows taken in another order; the database
breaks it by failing one side, and both retry, as `append_batch` does.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any, Callable, ContextManager, Iterable

from sqlalchemy import Connection, and_, case, literal_column, or_, select, update
from sqlalchemy.sql.elements import ColumnElement

from . import _sqlhooks as hooks
from ._checks import check_node, check_shard, check_ttl, encode_info
from ._sqlwrites import from_us
from .errors import StoreError
from .leases import DEFAULT_SHARDS, LeaseRow, NodeRow, ShardLeases
from .schema import aion_meta, nodes, shard_leases

_RETRIES = 5
_CLOCKS = {
    "sqlite": "CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER)",
    "postgresql": "CAST(EXTRACT(EPOCH FROM statement_timestamp()) * 1000000 AS BIGINT)",
}


def store_now(dialect_name: str) -> ColumnElement[int]:
    """The database's clock in microseconds since the epoch."""
    return literal_column(_CLOCKS[dialect_name])


def init_shards(conn: Connection, requested: int | None, where: str) -> int:
    """The store's shard count: recorded (with one lease row per shard) on creation or upgrade, else read.

    Raises:
        StoreError: `requested` differs from the count the store was created with.
    """
    stored = conn.execute(select(aion_meta.c.value).where(aion_meta.c.key == "shards")).scalar()
    if stored is None:
        count = DEFAULT_SHARDS if requested is None else requested
        conn.execute(aion_meta.insert(), {"key": "shards", "value": str(count)})
        conn.execute(shard_leases.insert(), [{"shard": s, "owner": None, "token": 0, "expires_us": None}
                                             for s in range(count)])
        return count
    count = int(stored)
    if requested is not None and requested != count:
        raise StoreError(f"{where} has {count} shards, fixed when it was created; open it without shards= "
                         f"(or with shards={count}), or create a new store for {requested}")
    return count


class SqlShardLeases(ShardLeases):
    """The `ShardLeases` of `SqlStore`, given the store's `_tx(action, write=)`, `_insert`, `_shards`, `_engine`."""

    _tx: Callable[..., ContextManager[Connection]]
    _insert: Callable[..., Any]  # the dialect's INSERT with ON CONFLICT
    _shards: int
    _engine: Any

    def _now_sql(self) -> ColumnElement[int]:
        return store_now(self._engine.dialect.name)

    def shard_count(self) -> int:
        return self._shards

    def _write(self, action: str, stmt: Any) -> Any:
        """Run one lease statement in its own write transaction; `(rowcount, rows)`."""
        for attempt in range(_RETRIES):
            try:
                with self._tx(action, write=True) as conn:
                    result = conn.execute(stmt)
                    return result.rowcount, (result.all() if result.returns_rows else [])
            except hooks.RetryableConflict:
                if attempt == _RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

    def now(self) -> datetime:
        with self._tx("reading the store's clock") as conn:
            return from_us(conn.execute(select(self._now_sql())).scalar_one())

    def heartbeat(self, node_id: str, info: dict[str, Any]) -> None:
        check_node(node_id)
        row = {"node_id": node_id, "info": encode_info(info), "heartbeat_us": self._now_sql(), "beats": 1}
        upsert = self._insert(nodes).values(row)
        upsert = upsert.on_conflict_do_update(index_elements=["node_id"], set_={
            "info": upsert.excluded.info, "heartbeat_us": upsert.excluded.heartbeat_us,
            "beats": nodes.c.beats + 1})
        self._write("recording a heartbeat", upsert)

    def nodes(self, ttl: float) -> list[NodeRow]:
        check_ttl(ttl)
        n = nodes.c
        with self._tx("listing nodes") as conn:
            rows = conn.execute(select(n.node_id, n.info, n.heartbeat_us, n.beats, self._now_sql())
                                .order_by(n.node_id)).all()
        limit, found = timedelta(seconds=ttl), []
        for node_id, info, at, beats, now in rows:
            age = timedelta(microseconds=now - at)
            found.append(NodeRow(node_id, json.loads(info), from_us(at), beats, age, age <= limit))
        return found

    def forget_node(self, node_id: str) -> bool:
        return self._write("forgetting a node", nodes.delete().where(nodes.c.node_id == node_id))[0] == 1

    def acquire(self, shard: int, node_id: str, ttl: float) -> int | None:
        check_shard(shard, self._shards)
        check_node(node_id)
        check_ttl(ttl)
        sl, now = shard_leases.c, self._now_sql()
        ours = and_(sl.owner == node_id, sl.expires_us >= now)
        stmt = (update(shard_leases)
                .where(sl.shard == shard, or_(sl.owner.is_(None), sl.owner == node_id, sl.expires_us < now))
                .values(token=case((ours, sl.token), else_=sl.token + 1), owner=node_id,
                        expires_us=now + int(ttl * 1_000_000))
                .returning(sl.token))
        rows = self._write("acquiring a shard", stmt)[1]
        return rows[0][0] if rows else None

    def renew(self, node_id: str, shards: Iterable[int], ttl: float) -> set[int]:
        check_node(node_id)
        check_ttl(ttl)
        wanted = sorted(set(shards))
        for shard in wanted:
            check_shard(shard, self._shards)
        if not wanted:
            return set()
        sl, now = shard_leases.c, self._now_sql()
        stmt = (update(shard_leases)
                .where(sl.shard.in_(wanted), sl.owner == node_id, sl.expires_us >= now)
                .values(expires_us=now + int(ttl * 1_000_000)).returning(sl.shard))
        return {row[0] for row in self._write("renewing leases", stmt)[1]}

    def release(self, shard: int, node_id: str, token: int) -> bool:
        check_shard(shard, self._shards)
        check_node(node_id)
        sl = shard_leases.c
        stmt = (update(shard_leases).where(sl.shard == shard, sl.owner == node_id, sl.token == token)
                .values(owner=None, expires_us=None))
        return self._write("releasing a shard", stmt)[0] == 1

    def leases(self) -> list[LeaseRow]:
        sl = shard_leases.c
        with self._tx("listing leases") as conn:
            rows = conn.execute(select(sl.shard, sl.owner, sl.token, sl.expires_us, self._now_sql())
                                .order_by(sl.shard)).all()
        return [LeaseRow(shard, owner, token, None if expires is None else from_us(expires),
                         expires is not None and expires >= now)
                for shard, owner, token, expires, now in rows]
