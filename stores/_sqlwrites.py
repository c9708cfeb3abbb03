"""Who executes `SqlStore`'s append statements: SQLAlchemy (PostgreSQL) or the sqlite3 cursor (SQLite).

`SqlStore._apply` plans a batch once for both backends as rows keyed by bind
name; `CoreWrites` and `SqliteWrites` only run them (see `stores.sql`).
Private to `stores.sql`.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Iterable, Protocol, Sequence

from sqlalchemy import Connection

from . import _sqlhooks as hooks
from .base import Append

if TYPE_CHECKING:
    from .sql import SqlStore

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_US = timedelta(microseconds=1)
_IN_CHUNK = 500  # ids per IN (...) list, well under every backend's parameter limit

STATE_KEYS = ("workflow_type", "status", "closed", "started_at_us", "closed_at_us", "last_seq",
               "run_count", "last_run_id")
LOCK_KEYS = ("workflow_id",) + STATE_KEYS
# What every append moves. An UPDATE setting only these leaves the indexed columns' index pages
# alone (SQLite rewrites the index entry of every column in SET): 1 page per commit instead of 5.
PROGRESS_KEYS = ("last_seq", "run_count", "last_run_id")


def to_us(moment: datetime) -> int:
    return (moment - _EPOCH) // _US


def from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def advance(workflow_id: str, row: dict[str, Any] | None, append: Append) -> dict[str, Any]:
    """The workflow row after `append` (whose seq the caller already checked)."""
    first, last = append.events[0], append.events[-1]
    if row is None:
        state = append.state
        assert state is not None  # check_append requires a state on create
        row = {"workflow_id": workflow_id, "workflow_type": state.workflow_type, "status": state.status,
               "closed": False, "started_at_us": to_us(first.recorded_at), "closed_at_us": None,
               "last_seq": 0, "run_count": 0, "last_run_id": None}
    else:
        row = dict(row)
    run_id, runs = row["last_run_id"], row["run_count"]
    for ev in append.events:
        if ev.run_id != run_id:
            run_id, runs = ev.run_id, runs + 1
    row.update(last_seq=last.seq, run_count=runs, last_run_id=run_id)
    if append.state is not None:
        row.update(workflow_type=append.state.workflow_type, status=append.state.status,
                   closed=append.state.closed,
                   closed_at_us=to_us(last.recorded_at) if append.state.closed else None)
    return row


class Writes(Protocol):
    """Who executes `_apply`'s statements; rows are dicts keyed by bind name."""

    def create(self, rows: list[dict[str, Any]]) -> set[str]:
        """Insert the workflow rows that do not exist yet; return the ids inserted."""

    def lock(self, ids: list[str]) -> Iterable[Sequence[Any]]:
        """The stored rows (`LOCK_KEYS` order) of those of `ids` that exist, locked until commit."""

    def run(self, stmt: hooks.Prepared, rows: list[dict[str, Any]]) -> int | None:
        """Execute `stmt` once per row; the rows it matched, or None when the driver cannot tell."""

    def tokens(self, shards: list[int]) -> dict[int, int]:
        """The current fencing token of each of `shards`, stable until commit."""


class CoreWrites:
    """`Writes` through a SQLAlchemy connection (PostgreSQL)."""

    def __init__(self, store: SqlStore, conn: Connection) -> None:
        self._s, self._conn = store, conn

    def create(self, rows: list[dict[str, Any]]) -> set[str]:
        return set(self._conn.execute(self._s._create_wf.stmt, rows).scalars())

    def lock(self, ids: list[str]) -> Iterable[Sequence[Any]]:
        for start in range(0, len(ids), _IN_CHUNK):
            yield from self._conn.execute(self._s._lock_wf, {"ids": ids[start:start + _IN_CHUNK]})

    def run(self, stmt: hooks.Prepared, rows: list[dict[str, Any]]) -> int | None:
        result = stmt.run(self._conn, rows)
        return result.rowcount if self._conn.dialect.supports_sane_multi_rowcount else None

    def tokens(self, shards: list[int]) -> dict[int, int]:
        # FOR SHARE: an acquire's token increment (an UPDATE of the row) waits for our commit, and we for its.
        return dict(self._conn.execute(self._s._tokens, {"shards": shards}).all())


class SqliteWrites:
    """`Writes` straight on a sqlite3 cursor inside `BEGIN IMMEDIATE` (SQLite's hot path).

    That lock is the whole database's, so the rows `lock` reads cannot change before COMMIT.
    """

    def __init__(self, store: SqlStore, cursor: sqlite3.Cursor) -> None:
        self._s, self._cur = store, cursor

    def create(self, rows: list[dict[str, Any]]) -> set[str]:
        create, cur = self._s._create_wf, self._cur
        # One row at a time: sqlite3's executemany drops the rows RETURNING gives.
        return {row["workflow_id"] for row in rows if cur.execute(create.sql, create.params(row)).fetchall()}

    def lock(self, ids: list[str]) -> Iterable[Sequence[Any]]:
        if len(ids) == 1:  # the engine's usual append; a third of the cost of the json_each form
            return self._cur.execute(self._s._lock_one_sqlite.sql, ids).fetchall()
        return self._cur.execute(self._s._lock_many_sqlite.sql, (json.dumps(ids),)).fetchall()

    def run(self, stmt: hooks.Prepared, rows: list[dict[str, Any]]) -> int | None:
        return self._cur.executemany(stmt.sql, [stmt.params(row) for row in rows]).rowcount

    def tokens(self, shards: list[int]) -> dict[int, int]:
        marks = ",".join("?" * len(shards))  # at most the store's shard count
        return dict(self._cur.execute(f"SELECT shard, token FROM shard_leases WHERE shard IN ({marks})", shards))
