"""`SqlStore`: the `EventStore` on SQLAlchemy Core, for SQLite and PostgreSQL.

One code path serves both backends; their differences live in
`stores._sqlhooks`. The one difference visible here is who executes the hot
statements: on SQLite, appends (`append_batch`) and point reads
(`get_summary`, `read_history_from`) run the same statements, compiled once,
straight on the sqlite3 connection (`hooks.SqliteDirect`, reached through
`_direct_writes` and `_fetch`), because SQLAlchemy's per-execution machinery
cost ≈4x the statements themselves in the engine's small transactions.

A batch of appends is one transaction (group commit) built from a handful of
set-based statements, so its cost grows with the rows written rather than
with round trips:

0. When appends carry fences, one `SELECT` reads their shards' tokens (PostgreSQL:
   `FOR SHARE`, so a new owner's increment waits for our commit); a stale one is refused.

1. Workflows created by the batch are inserted with `ON CONFLICT DO NOTHING
   RETURNING`; a row that comes back is ours, one that does not already existed.
2. Every other touched workflow row is read under the writer's lock (SQLite:
   `BEGIN IMMEDIATE`; PostgreSQL: `SELECT ... FOR UPDATE`), the appends are
   checked against it in batch order, and the winners' rows are updated with
   `WHERE last_seq = <what we read>` as a belt-and-braces guard.
3. Events and timer changes of the winning appends are written in bulk.

Two writers racing on the same `expected_seq` therefore get exactly one
winner, whether they are threads or processes. `_apply` plans those steps
once for both backends; `CoreWrites` and `SqliteWrites` (`stores._sqlwrites`) only execute them.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager, nullcontext
from typing import Any, Iterable, Iterator, Sequence

from sqlalchemy import bindparam, delete, func, select, update

from . import _sqlhooks as hooks
from ._checks import check_append, check_fences, check_shard_count, checksum, verify
from ._sqlleases import SqlShardLeases
from ._sqlrequests import SqlRequestInbox
from ._sqltasks import SqlTaskQueues
from ._sqlupgrade import init_schema
from ._sqlwrites import (
    LOCK_KEYS,
    PROGRESS_KEYS,
    STATE_KEYS,
    CoreWrites,
    SqliteWrites,
    Writes,
    advance,
    from_us,
    to_us,
)
from .base import Append, EventStore, RunSummary, StoredEvent, TimerRow, WorkflowFilter, WorkflowSummary
from .errors import SequenceConflict, StaleFence, StoreError
from .schema import events, shard_leases, timers, workflows

_RETRIES = 5

_SUMMARY_COLS = (workflows.c.workflow_id, workflows.c.workflow_type, workflows.c.status,
                 workflows.c.started_at_us, workflows.c.closed_at_us, workflows.c.run_count,
                 workflows.c.last_seq)
class SqlStore(SqlRequestInbox, SqlShardLeases, SqlTaskQueues, EventStore):
    """An `EventStore`, `RequestInbox`, `ShardLeases` and `TaskQueues` in SQLite or PostgreSQL.

    Args:
        url: `sqlite:///path.db`, `sqlite://` (in memory, shared by the
            process's threads) or `postgresql+psycopg://user@host/db`.
        durability: SQLite only. `"process"` (WAL, `synchronous=NORMAL`)
            survives a crash of the process but may lose the last commits on
            power loss; `"fsync"` (`synchronous=FULL`) survives power loss at
            the cost of an fsync per commit. PostgreSQL commits are always
            durable, so there the value is checked and otherwise ignored.
        pool_size: connections kept open (file SQLite and PostgreSQL).
        max_overflow: extra connections allowed under load.
        shards: the shard count of a store created now (default 64); an
            existing store keeps its own, and naming another is an error.

    Raises:
        StoreError: malformed URL, unknown durability, unreachable database,
            a database written by another schema version, or `shards`
            differing from the existing store's.
    """

    def __init__(self, url: str, *, durability: str = "process", pool_size: int = 5,
                 max_overflow: int = 10, shards: int | None = None) -> None:
        if shards is not None:
            check_shard_count(shards)
        parsed = hooks.parse_url(url)
        self._where = hooks.describe(parsed)
        self._engine = hooks.build_engine(parsed, durability, pool_size=pool_size, max_overflow=max_overflow)
        self._writer = self._engine.execution_options(**{hooks.WRITE: True})
        # In-memory SQLite is one shared connection: every use must be exclusive.
        # A file's writers queue on a lock here instead of sleeping in SQLite's busy handler.
        sqlite = hooks.is_sqlite(parsed)
        self._all_lock = threading.RLock() if hooks.is_sqlite_memory(parsed) else None
        self._write_lock = threading.Lock() if sqlite else None
        self._closed = False
        # SQLite's hot path; None on PostgreSQL, which runs everything through SQLAlchemy.
        self._direct = hooks.SqliteDirect(self._engine, self._where, shared=self._all_lock is not None) \
            if sqlite else None
        self._build_statements(hooks.insert_for(self._engine.dialect))
        try:
            self._init_schema(shards)
        except BaseException:
            self._engine.dispose()
            raise

    def _build_statements(self, insert: Any) -> None:
        wf, e, dialect = workflows.c, events.c, self._engine.dialect
        self._insert = insert
        self._create_wf = hooks.Prepared(
            insert(workflows).on_conflict_do_nothing(index_elements=["workflow_id"]).returning(wf.workflow_id),
            dialect, keys=LOCK_KEYS)
        guarded = update(workflows).where(wf.workflow_id == bindparam("k_id"), wf.last_seq == bindparam("k_seq"))
        self._update_wf = hooks.Prepared(guarded.values({k: bindparam(k + "_") for k in STATE_KEYS}), dialect)
        self._progress_wf = hooks.Prepared(guarded.values({k: bindparam(k + "_") for k in PROGRESS_KEYS}), dialect)
        locked = select(wf.workflow_id, *(wf[k] for k in STATE_KEYS))
        self._lock_wf = (locked.where(wf.workflow_id.in_(bindparam("ids", expanding=True)))
                         .order_by(wf.workflow_id).with_for_update())
        if self._direct is not None:  # fixed statements; BEGIN IMMEDIATE is the lock
            self._lock_one_sqlite = hooks.Prepared(locked.where(wf.workflow_id == bindparam("id")), dialect)
            ids = func.json_each(bindparam("ids")).table_valued("value")  # any number of ids: a JSON array
            self._lock_many_sqlite = hooks.Prepared(locked.where(wf.workflow_id.in_(select(ids.c.value))), dialect)
        self._insert_events = hooks.Prepared(events.insert(), dialect)
        self._tokens = (select(shard_leases.c.shard, shard_leases.c.token)
                        .where(shard_leases.c.shard.in_(bindparam("shards", expanding=True)))
                        .order_by(shard_leases.c.shard).with_for_update(read=True))
        upsert = insert(timers)
        self._upsert_timer = hooks.Prepared(upsert.on_conflict_do_update(
            index_elements=["workflow_id", "timer_id"], set_={"fire_at_us": upsert.excluded.fire_at_us}), dialect)
        self._delete_timer = hooks.Prepared(delete(timers).where(timers.c.workflow_id == bindparam("k_wf"),
                                                                 timers.c.timer_id == bindparam("k_tid")), dialect)
        self._summary = hooks.Prepared(select(*_SUMMARY_COLS).where(wf.workflow_id == bindparam("wid")), dialect)
        self._history = hooks.Prepared(
            select(e.workflow_id, e.seq, e.run_id, e.type, e.recorded_at_us, e.data, e.crc)
            .where(e.workflow_id == bindparam("wid"), e.seq >= bindparam("from_seq")).order_by(e.seq), dialect)

    def _lock(self, write: bool) -> Any:
        """What serialises this use of the database inside the process (may be a no-op)."""
        if self._closed:
            raise StoreError(f"the store on {self._where} is closed")
        return self._all_lock or (self._write_lock if write else None) or nullcontext()

    @contextmanager
    def _tx(self, action: str, *, write: bool = False) -> Iterator[Any]:
        """A connection in one transaction; driver errors come out as `StoreError`."""
        with self._lock(write):
            try:
                with (self._writer if write else self._engine).begin() as conn:
                    yield conn
            except hooks.DRIVER_ERRORS as exc:
                raise hooks.translate(exc, action, self._where) from exc

    # -- the SQLite hot path: where the backends' execution differs ----------

    @contextmanager
    def _direct_writes(self, action: str) -> Iterator[SqliteWrites]:
        """SQLite: `_apply`'s statements on the driver, in BEGIN IMMEDIATE under the write lock."""
        assert self._direct is not None
        with self._lock(write=True), self._direct.transaction(action) as cursor:
            yield SqliteWrites(self, cursor)

    def _fetch(self, query: hooks.Prepared, params: dict[str, Any], action: str) -> list[Any]:
        """The rows of one hot SELECT: on the driver for SQLite, through SQLAlchemy otherwise."""
        if self._direct is not None:
            with self._lock(write=False):
                return self._direct.fetch(query, params, action)
        with self._tx(action) as conn:
            return conn.execute(query.stmt, params).all()

    def _init_schema(self, shards: int | None) -> None:
        with self._tx("creating the schema", write=True) as conn:
            self._shards = init_schema(conn, shards, self._where)

    # -- writing ---------------------------------------------------------

    def append_batch(self, appends: Sequence[Append]) -> list[SequenceConflict | StaleFence | None]:
        for append in appends:
            check_append(append)
        check_fences(appends, self._shards)
        if not appends:
            return []
        if self._direct is not None:
            with self._direct_writes("appending events") as writes:
                return self._apply(writes, appends)
        for attempt in range(_RETRIES):
            try:
                with self._tx("appending events", write=True) as conn:
                    return self._apply(CoreWrites(self, conn), appends)
            except hooks.RetryableConflict:
                if attempt == _RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

    def _apply(self, db: Writes, appends: Sequence[Append]) -> list[SequenceConflict | StaleFence | None]:
        outcome: list[SequenceConflict | StaleFence | None] = [None] * len(appends)
        fenced = sorted({a.fence[0] for a in appends if a.fence is not None})
        tokens = db.tokens(fenced) if fenced else {}  # the one extra statement fencing costs a batch
        by_wf: dict[str, list[int]] = {}  # workflow id -> indexes of its appends, in order
        for index, append in enumerate(appends):
            if append.fence is not None and tokens.get(append.fence[0]) != append.fence[1]:
                shard, token = append.fence
                outcome[index] = StaleFence(append.workflow_id, shard, token, tokens.get(shard, 0))
                continue
            by_wf.setdefault(append.workflow_id, []).append(index)
        won = [False] * len(appends)

        def plan(workflow_id: str, row: dict[str, Any] | None) -> dict[str, Any] | None:
            """Check the workflow's appends in order against `row`; return the final row."""
            for index in by_wf[workflow_id]:
                append = appends[index]
                found = row["last_seq"] if row is not None else 0
                if append.expected_seq != found or (append.expected_seq == 0 and row is not None):
                    outcome[index] = SequenceConflict(workflow_id, append.expected_seq, found)
                else:
                    row = advance(workflow_id, row, append)
                    won[index] = True
            return row

        # Sorted ids give concurrent PostgreSQL writers one lock order (no deadlocks).
        creating = sorted(w for w, group in by_wf.items() if any(appends[i].expected_seq == 0 for i in group))
        created: set[str] = set()
        if creating:
            # Planned as if absent; a row the insert did not return existed, so re-plan it below.
            rows = {w: plan(w, None) for w in creating}
            created = db.create([rows[w] for w in creating])
            for w in creating:
                if w not in created:
                    for index in by_wf[w]:
                        outcome[index], won[index] = None, False
        rest = sorted(w for w in by_wf if w not in created)
        updates: dict[hooks.Prepared, list[dict[str, Any]]] = {self._update_wf: [], self._progress_wf: []}
        stored = {r[0]: dict(zip(LOCK_KEYS, r)) for r in db.lock(rest)} if rest else {}
        for w in rest:
            before = stored.get(w)
            after = plan(w, before)
            if after is not before:
                stmt = self._progress_wf if all(after[k] == before[k] for k in STATE_KEYS
                                                 if k not in PROGRESS_KEYS) else self._update_wf
                updates[stmt].append({**{k + "_": after[k] for k in STATE_KEYS}, "k_id": w,
                                      "k_seq": before["last_seq"]})
        for stmt, rows in updates.items():
            matched = db.run(stmt, rows) if rows else None
            if matched is not None and matched != len(rows):
                raise StoreError(f"{self._where} changed workflow rows under a held lock; "
                                 f"is another program writing to it?")
        self._write_winners(db, [a for a, ok in zip(appends, won) if ok])
        return outcome

    def _write_winners(self, db: Writes, appends: list[Append]) -> None:
        rows = [{"workflow_id": ev.workflow_id, "seq": ev.seq, "run_id": ev.run_id, "type": ev.type,
                 "recorded_at_us": to_us(ev.recorded_at), "data": bytes(ev.data), "crc": checksum(ev.data)}
                for a in appends for ev in a.events]
        if rows:
            db.run(self._insert_events, rows)
        # Later changes to the same timer win, cancels before schedules within an append.
        final: dict[tuple[str, str], int | None] = {}
        for a in appends:
            for timer_id in a.cancel_timers:
                final[(a.workflow_id, timer_id)] = None
            for t in a.schedule_timers:
                final[(t.workflow_id, t.timer_id)] = to_us(t.fire_at)
        puts = [{"workflow_id": w, "timer_id": t, "fire_at_us": us} for (w, t), us in final.items() if us is not None]
        cuts = [{"k_wf": w, "k_tid": t} for (w, t), us in final.items() if us is None]
        if puts:
            db.run(self._upsert_timer, puts)
        if cuts:
            db.run(self._delete_timer, cuts)

    # -- reading ---------------------------------------------------------

    def read_history_from(self, workflow_id: str, from_seq: int) -> list[StoredEvent]:
        rows = self._fetch(self._history, {"wid": workflow_id, "from_seq": from_seq}, "reading a history")
        return [self._event(*row) for row in rows]

    @staticmethod
    def _event(workflow_id: Any, seq: Any, run_id: Any, type_: Any, recorded_at_us: Any, data: Any,
               crc: Any) -> StoredEvent:
        # Exact type checks (bool is an int subclass): this runs per event on every history read.
        if (type(seq) is not int or type(recorded_at_us) is not int or (crc is not None and type(crc) is not int)
                or not isinstance(run_id, str) or not isinstance(type_, str)):
            raise StoreError(f"event seq {seq!r} of workflow {workflow_id!r} has columns of the wrong "
                             f"type; the row is corrupted: restore the store from a backup")
        try:
            recorded_at = from_us(recorded_at_us)
        except OverflowError as exc:
            raise StoreError(f"event seq {seq} of workflow {workflow_id!r} has an impossible timestamp "
                             f"{recorded_at_us}; restore the store from a backup") from exc
        data = bytes(data) if isinstance(data, memoryview) else data
        return verify(StoredEvent(workflow_id, seq, run_id, type_, recorded_at, data), crc)

    def read_run_chain(self, workflow_id: str) -> list[RunSummary]:
        e = events.c
        first = func.min(e.seq)
        stmt = (select(e.run_id, first, func.max(e.seq), func.min(e.recorded_at_us), func.max(e.recorded_at_us))
                .where(e.workflow_id == workflow_id).group_by(e.run_id).order_by(first))
        with self._tx("reading a run chain") as conn:
            rows = conn.execute(stmt).all()
        try:
            return [RunSummary(run_id, lo, hi, from_us(start), from_us(end)) for run_id, lo, hi, start, end in rows]
        except (TypeError, OverflowError) as exc:
            raise StoreError(f"the runs of workflow {workflow_id!r} have corrupted timestamps; "
                             f"restore the store from a backup") from exc

    def _summaries(self, stmt: Any, action: str) -> list[WorkflowSummary]:
        with self._tx(action) as conn:
            return self._to_summaries(conn.execute(stmt).all())

    @staticmethod
    def _to_summaries(rows: Iterable[Sequence[Any]]) -> list[WorkflowSummary]:
        out = []
        for wid, wtype, status, started, closed_at, runs, last_seq in rows:
            try:
                out.append(WorkflowSummary(wid, wtype, status, from_us(started),
                                           None if closed_at is None else from_us(closed_at), runs, last_seq))
            except (TypeError, OverflowError) as exc:
                raise StoreError(f"the metadata row of workflow {wid!r} is corrupted; "
                                 f"restore the store from a backup") from exc
        return out

    def get_summary(self, workflow_id: str) -> WorkflowSummary | None:
        found = self._to_summaries(self._fetch(self._summary, {"wid": workflow_id}, "reading a workflow"))
        return found[0] if found else None

    def list_active(self) -> list[WorkflowSummary]:
        wf = workflows.c
        stmt = select(*_SUMMARY_COLS).where(wf.closed.is_(False)).order_by(wf.started_at_us, wf.workflow_id)
        return self._summaries(stmt, "listing active workflows")

    def query(self, filter: WorkflowFilter = WorkflowFilter()) -> list[WorkflowSummary]:
        wf = workflows.c
        stmt = select(*_SUMMARY_COLS)
        if filter.workflow_type is not None:
            stmt = stmt.where(wf.workflow_type == filter.workflow_type)
        statuses = filter.statuses()
        if statuses is not None:
            stmt = stmt.where(wf.status.in_(statuses))
        bounds = ((filter.started_after, wf.started_at_us, True), (filter.started_before, wf.started_at_us, False),
                  (filter.closed_after, wf.closed_at_us, True), (filter.closed_before, wf.closed_at_us, False))
        for moment, column, lower in bounds:
            if moment is not None:
                stmt = stmt.where(column >= to_us(moment) if lower else column <= to_us(moment))
        stmt = stmt.order_by(wf.started_at_us.desc(), wf.workflow_id).offset(filter.offset or None)
        if filter.limit is not None:
            stmt = stmt.limit(filter.limit)
        return self._summaries(stmt, "querying workflows")

    # -- timers ----------------------------------------------------------

    def _timers(self, stmt: Any, action: str) -> list[TimerRow]:
        t = timers.c
        with self._tx(action) as conn:
            rows = conn.execute(stmt.order_by(t.fire_at_us, t.workflow_id, t.timer_id)).all()
        try:
            return [TimerRow(w, tid, from_us(us)) for w, tid, us in rows]
        except (TypeError, OverflowError) as exc:
            raise StoreError(f"a timer row is corrupted ({exc}); restore the store from a backup") from exc

    def all_timers(self) -> list[TimerRow]:
        return self._timers(select(timers), "reading timers")

    def timers_of(self, workflow_id: str) -> list[TimerRow]:
        return self._timers(select(timers).where(timers.c.workflow_id == workflow_id), "reading timers")

    # -- lifecycle -------------------------------------------------------

    def close(self) -> None:
        """Dispose of the engine's connections; later calls raise `StoreError`."""
        if self._direct is not None and not self._closed:
            with self._lock(write=True):  # not under a writer's feet
                self._direct.close()
        self._closed = True
        self._engine.dispose()
