"""The request inbox of `SqlStore`, on SQLite and PostgreSQL alike.

Claiming is one `UPDATE ... WHERE id IN (oldest unclaimed of these shards
... FOR UPDATE SKIP LOCKED) RETURNING`: PostgreSQL locks the rows it hands
out and lets a second claimer skip them, SQLite's `BEGIN IMMEDIATE` lets one
writer in at a time; either way a request goes to exactly one claimer. Every
node polls often, so on SQLite a poll first asks, without taking the write
lock that would stall appends, whether there is anything to claim at all;
PostgreSQL's claim takes no lock when nothing matches, so there it is the
poll's only statement. Both filter on the `(claimed_by, shard)` index, and
pass the shard set as one parameter (SQLite: a JSON array read by
`json_each`; PostgreSQL: an array for `= ANY`): an expanded `IN (...)` of one
parameter per shard cost more to bind than the poll costs to run.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any, Callable, ContextManager, Iterable

from sqlalchemy import ARRAY, Connection, Integer, any_, bindparam, delete, func, or_, select, update

from ._checks import check_claim, check_claim_shards, check_claimer, check_cutoff, check_request
from .errors import StoreError
from .inbox import Request, RequestInbox
from .leases import shard_of
from .schema import requests

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_US = timedelta(microseconds=1)
_COLUMNS = (requests.c.id, requests.c.kind, requests.c.workflow_id, requests.c.body, requests.c.created_at_us,
            requests.c.claimed_by, requests.c.answered, requests.c.reply, requests.c.error, requests.c.shard)


def _request(row: Any) -> Request:
    request_id, kind, workflow_id, body, created_us, claimed_by, answered, reply, error, shard = row
    try:
        created_at = _EPOCH + timedelta(microseconds=created_us)
    except (TypeError, OverflowError) as exc:
        raise StoreError(f"request {request_id!r} has a corrupted timestamp; delete it") from exc
    return Request(request_id, kind, workflow_id, bytes(body), created_at, claimed_by, bool(answered),
                   None if reply is None else bytes(reply), error, shard)


@lru_cache(maxsize=None)
def _claim_statements(dialect: str, routed: bool | None) -> tuple[Any, Any]:
    """(is anything waiting, claim the oldest waiting), among unclaimed requests of any shard (`routed` None),
    of the `shards` parameter's or none (True), or of none (False)."""
    r = requests.c
    waiting = r.claimed_by.is_(None)
    if routed is False:
        waiting &= r.shard.is_(None)
    elif routed:
        if dialect == "sqlite":
            listed = r.shard.in_(select(func.json_each(bindparam("shards")).table_valued("value").c.value))
        else:
            listed = r.shard == any_(bindparam("shards", type_=ARRAY(Integer)))
        waiting &= or_(r.shard.is_(None), listed)
    oldest = (select(r.id).where(waiting).order_by(r.id).limit(bindparam("limit"))
              .with_for_update(skip_locked=True))
    claim = (update(requests).where(r.id.in_(oldest.scalar_subquery()), r.claimed_by.is_(None))
             .values(claimed_by=bindparam("claimer")).returning(*_COLUMNS))
    return select(r.id).where(waiting).limit(1), claim


class SqlRequestInbox(RequestInbox):
    """The `RequestInbox` of `SqlStore`, given the store's `_tx(action, write=)`, `_shards`, `_engine`."""

    _tx: Callable[..., ContextManager[Connection]]
    _shards: int
    _engine: Any

    def put_request(self, kind: str, workflow_id: str | None, body: bytes) -> int:
        check_request(kind, workflow_id, body)
        row = {"kind": kind, "workflow_id": workflow_id, "body": bytes(body), "answered": False,
               "created_at_us": (datetime.now(timezone.utc) - _EPOCH) // _US,
               "shard": None if workflow_id is None else shard_of(workflow_id, self._shards)}
        with self._tx("queueing a request", write=True) as conn:
            return conn.execute(requests.insert().returning(requests.c.id), row).scalar_one()

    def claim_requests(self, claimer: str, limit: int, shards: Iterable[int] | None = None) -> list[Request]:
        check_claim(claimer, limit)
        wanted = check_claim_shards(shards, self._shards)
        dialect = self._engine.dialect.name
        routed = None if wanted is None else bool(wanted)
        params: dict[str, Any] = {"limit": limit, "claimer": claimer}
        if routed:
            params["shards"] = json.dumps(wanted) if dialect == "sqlite" else wanted
        anything, claim = _claim_statements(dialect, routed)
        if dialect == "sqlite":
            with self._tx("looking for requests") as conn:
                if conn.execute(anything, params).first() is None:
                    return []
        with self._tx("claiming requests", write=True) as conn:
            rows = conn.execute(claim, params).all()
        return sorted((_request(row) for row in rows), key=lambda q: q.id)

    def release_claims(self, claimer: str) -> int:
        check_claimer(claimer)
        r = requests.c
        stmt = update(requests).where(r.claimed_by == claimer, r.answered.is_(False)).values(claimed_by=None)
        with self._tx("releasing claims", write=True) as conn:
            return conn.execute(stmt).rowcount

    def answer_request(self, request_id: int, reply: bytes | None = None, error: str | None = None) -> bool:
        stmt = (update(requests).where(requests.c.id == request_id)
                .values(answered=True, reply=None if reply is None else bytes(reply), error=error))
        with self._tx("answering a request", write=True) as conn:
            return conn.execute(stmt).rowcount == 1

    def get_request(self, request_id: int) -> Request | None:
        with self._tx("reading a request") as conn:
            row = conn.execute(select(*_COLUMNS).where(requests.c.id == request_id)).first()
        found = None if row is None else _request(row)
        if found is not None and found.answered:
            with self._tx("deleting an answered request", write=True) as conn:
                conn.execute(delete(requests).where(requests.c.id == request_id))
        return found

    def withdraw_request(self, request_id: int) -> bool:
        stmt = delete(requests).where(requests.c.id == request_id, requests.c.claimed_by.is_(None))
        with self._tx("withdrawing a request", write=True) as conn:
            return conn.execute(stmt).rowcount == 1

    def prune_requests(self, created_before: datetime) -> int:
        check_cutoff(created_before)
        stmt = delete(requests).where(requests.c.created_at_us < (created_before - _EPOCH) // _US)
        with self._tx("pruning requests", write=True) as conn:
            return conn.execute(stmt).rowcount
