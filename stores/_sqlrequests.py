"""The request inbox of `SqlStore`, on SQLite and PostgreSQL alike.

A routed call makes five inbox calls (put, get, claim, answer, get), so each
is one statement where the backends allow it, compiled once per store and
run as SQL on the driver connection, because SQLAlchemy's execution machinery
cost more than these small statements: on SQLite through `hooks.SqliteDirect`,
as the store's appends; on PostgreSQL in autocommit, because a one-statement
transaction needs no BEGIN and COMMIT round trips around it.

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

Reading an answer deletes it with `DELETE ... RETURNING`, so the answer goes
to exactly one reader. PostgreSQL does the whole `get_request` in one
statement (that delete, plus the row as it stands when it is not answered);
SQLite, whose `DELETE` cannot sit in a `WITH`, first reads without the write
lock, so a client polling an unanswered request never stalls the writers.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from functools import cached_property, lru_cache
from typing import Any, Callable, ContextManager, Iterable

from sqlalchemy import (ARRAY, Integer, Text, any_, bindparam, cast, delete, func, literal_column, null, or_,
                        select, union_all, update)

from . import _sqlhooks as hooks
from ._pgnotify import CHANNEL, RequestNotices
from ._checks import check_claim, check_claim_shards, check_claimer, check_cutoff, check_request
from .errors import StoreError
from .inbox import Request, RequestInbox
from .leases import shard_of
from .schema import requests

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_US = timedelta(microseconds=1)
_COLUMNS = (requests.c.id, requests.c.kind, requests.c.workflow_id, requests.c.body, requests.c.created_at_us,
            requests.c.claimed_by, requests.c.answered, requests.c.reply, requests.c.error, requests.c.shard)
_PUT_KEYS = ("kind", "workflow_id", "body", "answered", "created_at_us", "shard")


def _request(row: Any) -> Request:
    request_id, kind, workflow_id, body, created_us, claimed_by, answered, reply, error, shard = row
    try:
        created_at = _EPOCH + timedelta(microseconds=created_us)
    except (TypeError, OverflowError) as exc:
        raise StoreError(f"request {request_id!r} has a corrupted timestamp; delete it") from exc
    return Request(request_id, kind, workflow_id, bytes(body), created_at, claimed_by, bool(answered),
                   None if reply is None else bytes(reply), error, shard)


@lru_cache(maxsize=None)
def _statements(dialect: str) -> dict[str, Any]:
    """Every statement of the inbox but the claims, by name; parameters are named `p_*`."""
    r = requests.c
    this = r.id == bindparam("p_id")
    answered = delete(requests).where(this, r.answered.is_(True)).returning(*_COLUMNS)
    stmts = {
        "put": requests.insert().returning(r.id),
        "read": select(*_COLUMNS).where(this),
        "take answer": answered,
        "answer": update(requests).where(this).values(answered=bindparam("p_answered"),
                                                      reply=bindparam("p_reply"), error=bindparam("p_error")),
        "withdraw": delete(requests).where(this, r.claimed_by.is_(None)),
        "release": update(requests).where(r.claimed_by == bindparam("p_claimer"), r.answered.is_(False))
                                   .values(claimed_by=null()),
        "prune": delete(requests).where(r.created_at_us < bindparam("p_cutoff")),
    }
    if dialect != "sqlite":
        # The owner LISTENing for requests hears of this one when it is committed (`_pgnotify`).
        row = {name: bindparam(name) for name in ("kind", "workflow_id", "body", "answered", "created_at_us",
                                                   "shard")}
        put = requests.insert().values(row).returning(r.id, r.shard).cte("put")
        stmts["put"] = select(put.c.id, func.pg_notify(literal_column(f"'{CHANNEL}'"), func.coalesce(
            cast(put.c.shard, Text), literal_column("''")))).select_from(put)
        # A data-modifying WITH sees the snapshot the statement started from: the row comes back either
        # deleted (answered) or as it stands (not answered), never both, in one round trip.
        taken = answered.cte("taken")
        stmts["get"] = union_all(select(*(literal_column(f"taken.{c.name}") for c in _COLUMNS)).select_from(taken),
                                 select(*_COLUMNS).where(this, r.answered.is_(False)))
    return stmts


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
    # SQLite renders a bound LIMIT as `LIMIT ? OFFSET ?`; naming the offset lets `Prepared` pass it.
    oldest = (select(r.id).where(waiting).order_by(r.id).limit(bindparam("limit")).offset(bindparam("offset"))
              .with_for_update(skip_locked=True))
    claim = (update(requests).where(r.id.in_(oldest.scalar_subquery()), r.claimed_by.is_(None))
             .values(claimed_by=bindparam("claimer")).returning(*_COLUMNS))
    return select(r.id).where(waiting).limit(bindparam("limit")).offset(bindparam("offset")), claim


class SqlRequestInbox(RequestInbox):
    """The `RequestInbox` of `SqlStore`, given the store's `_engine`, `_shards`, `_where`, `_direct` (SQLite's
    `hooks.SqliteDirect`, else None) and `_lock(write)`."""

    _engine: Any
    _shards: int
    _where: str
    _direct: hooks.SqliteDirect | None
    _lock: Callable[[bool], ContextManager[Any]]

    @cached_property
    def _prepared(self) -> dict[Any, hooks.Prepared]:
        """The statements compiled for the driver, by name or by claim routing."""
        dialect = self._engine.dialect
        prepared = {name: hooks.Prepared(stmt, dialect, keys=_PUT_KEYS if name == "put" else None)
                    for name, stmt in _statements(dialect.name).items()}
        for routed in (None, False, True):
            anything, claim = _claim_statements(dialect.name, routed)
            prepared["anything", routed] = hooks.Prepared(anything, dialect)
            prepared["claim", routed] = hooks.Prepared(claim, dialect)
        return prepared

    @cached_property
    def _autocommit(self) -> Any:
        """PostgreSQL: the store's engine without transactions, for the one-statement calls."""
        return self._engine.execution_options(isolation_level="AUTOCOMMIT")

    def _run(self, action: str, name: Any, params: dict[str, Any], *, write: bool = True) -> tuple[list[Any], int]:
        """Run one statement in a transaction of its own; (rows it returned, rows it changed).

        SQLite: under the store's write lock in BEGIN IMMEDIATE, or (not `write`) a read in
        autocommit; PostgreSQL: in autocommit. Driver errors come out as `StoreError`.
        """
        prepared = self._prepared[name]
        if self._direct is not None:
            if not write:
                with self._lock(False):
                    return self._direct.fetch(prepared, params, action), 0
            with self._lock(True), self._direct.transaction(action) as cursor:
                cursor.execute(prepared.sql, prepared.params(params))
                return cursor.fetchall(), cursor.rowcount
        try:
            with self._lock(False), self._autocommit.connect() as conn:
                result = conn.exec_driver_sql(prepared.sql, params)
                return (result.all() if result.returns_rows else []), result.rowcount
        except hooks.DRIVER_ERRORS as exc:
            raise hooks.translate(exc, action, self._where) from exc

    def request_notices(self) -> RequestNotices | None:
        if self._direct is not None or self._engine.dialect.name != "postgresql":
            return None
        try:
            return RequestNotices(self._engine.url.render_as_string(hide_password=False))
        except Exception as exc:  # noqa: BLE001 - the driver's own error types
            raise StoreError(f"cannot listen for requests on {self._where}: {exc}") from exc

    def put_request(self, kind: str, workflow_id: str | None, body: bytes) -> int:
        check_request(kind, workflow_id, body)
        row = {"kind": kind, "workflow_id": workflow_id, "body": bytes(body), "answered": False,
               "created_at_us": (datetime.now(timezone.utc) - _EPOCH) // _US,
               "shard": None if workflow_id is None else shard_of(workflow_id, self._shards)}
        rows, _ = self._run("queueing a request", "put", row)
        return rows[0][0]

    def claim_requests(self, claimer: str, limit: int, shards: Iterable[int] | None = None) -> list[Request]:
        check_claim(claimer, limit)
        wanted = check_claim_shards(shards, self._shards)
        routed = None if wanted is None else bool(wanted)
        params: dict[str, Any] = {"limit": limit, "offset": 0, "claimer": claimer}
        if routed:
            params["shards"] = json.dumps(wanted) if self._direct is not None else wanted
        if self._direct is not None and not self._run("looking for requests", ("anything", routed), params,
                                                      write=False)[0]:
            return []
        rows, _ = self._run("claiming requests", ("claim", routed), params)
        return sorted((_request(row) for row in rows), key=lambda q: q.id)

    def release_claims(self, claimer: str) -> int:
        check_claimer(claimer)
        return self._run("releasing claims", "release", {"p_claimer": claimer})[1]

    def answer_request(self, request_id: int, reply: bytes | None = None, error: str | None = None) -> bool:
        params = {"p_id": request_id, "p_answered": True, "p_reply": None if reply is None else bytes(reply),
                  "p_error": error}
        return self._run("answering a request", "answer", params)[1] == 1

    def get_request(self, request_id: int) -> Request | None:
        params = {"p_id": request_id}
        if self._direct is None:
            rows, _ = self._run("reading a request", "get", params)
            return _request(rows[0]) if rows else None
        rows, _ = self._run("reading a request", "read", params, write=False)
        if rows and rows[0][6]:  # answered: it is the reader's that deletes it
            rows, _ = self._run("taking an answer", "take answer", params)
        return _request(rows[0]) if rows else None

    def withdraw_request(self, request_id: int) -> bool:
        return self._run("withdrawing a request", "withdraw", {"p_id": request_id})[1] == 1

    def prune_requests(self, created_before: datetime) -> int:
        check_cutoff(created_before)
        return self._run("pruning requests", "prune", {"p_cutoff": (created_before - _EPOCH) // _US})[1]
