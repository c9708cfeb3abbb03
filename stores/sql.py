"""`SqlStore`: the `EventStore` on SQLAlchemy Core, for SQLite and PostgreSQL.

One code path serves both backends; their differences live in
`stores._sqlhooks`. A batch of appends is one transaction (group commit)
built from a handful of set-based statements, so its cost grows with the
rows written rather than with round trips:

1. Workflows created by the batch are inserted with `ON CONFLICT DO NOTHING
   RETURNING`; a row that comes back is ours, one that does not already existed.
2. Every other touched workflow row is read under the writer's lock (SQLite:
   `BEGIN IMMEDIATE`; PostgreSQL: `SELECT ... FOR UPDATE`), the appends are
   checked against it in batch order, and the winners' rows are updated with
   `WHERE last_seq = <what we read>` as a belt-and-braces guard.
3. Events and timer changes of the winning appends are written in bulk.

Two writers racing on the same `expected_seq` therefore get exactly one
winner, whether they are threads or processes.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager, nullcontext
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator, Sequence

from sqlalchemy import bindparam, delete, func, inspect, select, update

from . import _sqlhooks as hooks
from .base import (
    Append,
    EventStore,
    RunSummary,
    StoredEvent,
    TimerRow,
    WorkflowFilter,
    WorkflowSummary,
    check_append,
    checksum,
    verify,
)
from .errors import SequenceConflict, StoreError
from .schema import SCHEMA_VERSION, aion_meta, events, metadata, timers, workflows

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_US = timedelta(microseconds=1)
_RETRIES = 5
_IN_CHUNK = 500  # ids per IN (...) list, well under every backend's parameter limit

_SUMMARY_COLS = (workflows.c.workflow_id, workflows.c.workflow_type, workflows.c.status,
                 workflows.c.started_at_us, workflows.c.closed_at_us, workflows.c.run_count,
                 workflows.c.last_seq)
_STATE_KEYS = ("workflow_type", "status", "closed", "started_at_us", "closed_at_us", "last_seq",
               "run_count", "last_run_id")
_LOCK_KEYS = ("workflow_id",) + _STATE_KEYS


def _to_us(moment: datetime) -> int:
    return (moment - _EPOCH) // _US


def _from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def _advance(workflow_id: str, row: dict[str, Any] | None, append: Append) -> dict[str, Any]:
    """The workflow row after `append` (whose seq the caller already checked)."""
    first, last = append.events[0], append.events[-1]
    if row is None:
        state = append.state
        assert state is not None  # check_append requires a state on create
        row = {"workflow_id": workflow_id, "workflow_type": state.workflow_type, "status": state.status,
               "closed": False, "started_at_us": _to_us(first.recorded_at), "closed_at_us": None,
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
                   closed_at_us=_to_us(last.recorded_at) if append.state.closed else None)
    return row


class SqlStore(EventStore):
    """An `EventStore` in SQLite or PostgreSQL.

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

    Raises:
        StoreError: malformed URL, unknown durability, unreachable database,
            or a database written by another schema version.
    """

    def __init__(self, url: str, *, durability: str = "process", pool_size: int = 5,
                 max_overflow: int = 10) -> None:
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
        self._build_statements(hooks.insert_for(self._engine.dialect))
        try:
            self._init_schema()
        except BaseException:
            self._engine.dispose()
            raise

    def _build_statements(self, insert: Any) -> None:
        wf, dialect = workflows.c, self._engine.dialect
        self._create_wf = (insert(workflows).on_conflict_do_nothing(index_elements=["workflow_id"])
                           .returning(wf.workflow_id))
        self._update_wf = hooks.Prepared(
            update(workflows).where(wf.workflow_id == bindparam("k_id"), wf.last_seq == bindparam("k_seq"))
            .values({k: bindparam(k + "_") for k in _STATE_KEYS}), dialect)
        self._lock_wf = (select(wf.workflow_id, *(wf[k] for k in _STATE_KEYS))
                         .where(wf.workflow_id.in_(bindparam("ids", expanding=True)))
                         .order_by(wf.workflow_id).with_for_update())
        self._insert_events = hooks.Prepared(events.insert(), dialect)
        upsert = insert(timers)
        self._upsert_timer = upsert.on_conflict_do_update(
            index_elements=["workflow_id", "timer_id"], set_={"fire_at_us": upsert.excluded.fire_at_us})
        self._delete_timer = delete(timers).where(timers.c.workflow_id == bindparam("k_wf"),
                                                  timers.c.timer_id == bindparam("k_tid"))

    @contextmanager
    def _tx(self, action: str, *, write: bool = False) -> Iterator[Any]:
        """A connection in one transaction; driver errors come out as `StoreError`."""
        if self._closed:
            raise StoreError(f"the store on {self._where} is closed")
        lock = self._all_lock or (self._write_lock if write else None)
        with lock or nullcontext():
            try:
                with (self._writer if write else self._engine).begin() as conn:
                    yield conn
            except hooks.DRIVER_ERRORS as exc:
                raise hooks.translate(exc, action, self._where) from exc

    def _init_schema(self) -> None:
        with self._tx("creating the schema", write=True) as conn:
            hooks.lock_schema(conn)
            version = None
            if inspect(conn).has_table(aion_meta.name):
                version = conn.execute(select(aion_meta.c.value)
                                       .where(aion_meta.c.key == "schema_version")).scalar()
            if version is not None and version != SCHEMA_VERSION:
                raise StoreError(
                    f"{self._where} was written by aion_actors schema version {version}; this version "
                    f"understands {SCHEMA_VERSION}. Upgrade aion_actors or use another database."
                )
            metadata.create_all(conn)
            if version is None:
                conn.execute(aion_meta.insert(), {"key": "schema_version", "value": SCHEMA_VERSION})

    # -- writing ---------------------------------------------------------

    def append_batch(self, appends: Sequence[Append]) -> list[SequenceConflict | None]:
        for append in appends:
            check_append(append)
        if not appends:
            return []
        for attempt in range(_RETRIES):
            try:
                with self._tx("appending events", write=True) as conn:
                    return self._apply(conn, appends)
            except hooks.RetryableConflict:
                if attempt == _RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

    def _apply(self, conn: Any, appends: Sequence[Append]) -> list[SequenceConflict | None]:
        by_wf: dict[str, list[int]] = {}  # workflow id -> indexes of its appends, in order
        for index, append in enumerate(appends):
            by_wf.setdefault(append.workflow_id, []).append(index)
        outcome: list[SequenceConflict | None] = [None] * len(appends)
        won = [False] * len(appends)

        def plan(workflow_id: str, row: dict[str, Any] | None) -> dict[str, Any] | None:
            """Check the workflow's appends in order against `row`; return the final row."""
            for index in by_wf[workflow_id]:
                append = appends[index]
                found = row["last_seq"] if row is not None else 0
                if append.expected_seq != found or (append.expected_seq == 0 and row is not None):
                    outcome[index] = SequenceConflict(workflow_id, append.expected_seq, found)
                else:
                    row = _advance(workflow_id, row, append)
                    won[index] = True
            return row

        # Sorted ids give concurrent PostgreSQL writers one lock order (no deadlocks).
        creating = sorted(w for w, group in by_wf.items() if any(appends[i].expected_seq == 0 for i in group))
        created: set[str] = set()
        if creating:
            # Planned as if absent; a row the insert did not return existed, so re-plan it below.
            rows = {w: plan(w, None) for w in creating}
            created = set(conn.execute(self._create_wf, [rows[w] for w in creating]).scalars())
            for w in creating:
                if w not in created:
                    for index in by_wf[w]:
                        outcome[index], won[index] = None, False
        rest = sorted(w for w in by_wf if w not in created)
        updates = []
        for start in range(0, len(rest), _IN_CHUNK):
            chunk = rest[start:start + _IN_CHUNK]
            stored = {r[0]: dict(zip(_LOCK_KEYS, r)) for r in conn.execute(self._lock_wf, {"ids": chunk})}
            for w in chunk:
                before = stored.get(w)
                after = plan(w, before)
                if after is not before:
                    updates.append({**{k + "_": after[k] for k in _STATE_KEYS}, "k_id": w,
                                    "k_seq": before["last_seq"]})
        if updates:
            result = self._update_wf.run(conn, updates)
            if conn.dialect.supports_sane_multi_rowcount and result.rowcount != len(updates):
                raise StoreError(f"{self._where} changed workflow rows under a held lock; "
                                 f"is another program writing to it?")
        self._write_winners(conn, [a for a, ok in zip(appends, won) if ok])
        return outcome

    def _write_winners(self, conn: Any, appends: list[Append]) -> None:
        rows = [{"workflow_id": ev.workflow_id, "seq": ev.seq, "run_id": ev.run_id, "type": ev.type,
                 "recorded_at_us": _to_us(ev.recorded_at), "data": bytes(ev.data), "crc": checksum(ev.data)}
                for a in appends for ev in a.events]
        if rows:
            self._insert_events.run(conn, rows)
        # Later changes to the same timer win, cancels before schedules within an append.
        final: dict[tuple[str, str], int | None] = {}
        for a in appends:
            for timer_id in a.cancel_timers:
                final[(a.workflow_id, timer_id)] = None
            for t in a.schedule_timers:
                final[(t.workflow_id, t.timer_id)] = _to_us(t.fire_at)
        puts = [{"workflow_id": w, "timer_id": t, "fire_at_us": us} for (w, t), us in final.items() if us is not None]
        cuts = [{"k_wf": w, "k_tid": t} for (w, t), us in final.items() if us is None]
        if puts:
            conn.execute(self._upsert_timer, puts)
        if cuts:
            conn.execute(self._delete_timer, cuts)

    # -- reading ---------------------------------------------------------

    def read_history_from(self, workflow_id: str, from_seq: int) -> list[StoredEvent]:
        e = events.c
        stmt = (select(e.workflow_id, e.seq, e.run_id, e.type, e.recorded_at_us, e.data, e.crc)
                .where(e.workflow_id == workflow_id, e.seq >= from_seq).order_by(e.seq))
        with self._tx("reading a history") as conn:
            rows = conn.execute(stmt).all()
        return [self._event(*row) for row in rows]

    @staticmethod
    def _event(workflow_id: Any, seq: Any, run_id: Any, type_: Any, recorded_at_us: Any, data: Any,
               crc: Any) -> StoredEvent:
        ints = (seq, recorded_at_us) + ((crc,) if crc is not None else ())
        if (not all(isinstance(v, int) and not isinstance(v, bool) for v in ints)
                or not isinstance(run_id, str) or not isinstance(type_, str)):
            raise StoreError(f"event seq {seq!r} of workflow {workflow_id!r} has columns of the wrong "
                             f"type; the row is corrupted: restore the store from a backup")
        try:
            recorded_at = _from_us(recorded_at_us)
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
            return [RunSummary(run_id, lo, hi, _from_us(start), _from_us(end)) for run_id, lo, hi, start, end in rows]
        except (TypeError, OverflowError) as exc:
            raise StoreError(f"the runs of workflow {workflow_id!r} have corrupted timestamps; "
                             f"restore the store from a backup") from exc

    def _summaries(self, stmt: Any, action: str) -> list[WorkflowSummary]:
        with self._tx(action) as conn:
            rows = conn.execute(stmt).all()
        out = []
        for wid, wtype, status, started, closed_at, runs, last_seq in rows:
            try:
                out.append(WorkflowSummary(wid, wtype, status, _from_us(started),
                                           None if closed_at is None else _from_us(closed_at), runs, last_seq))
            except (TypeError, OverflowError) as exc:
                raise StoreError(f"the metadata row of workflow {wid!r} is corrupted; "
                                 f"restore the store from a backup") from exc
        return out

    def get_summary(self, workflow_id: str) -> WorkflowSummary | None:
        found = self._summaries(select(*_SUMMARY_COLS).where(workflows.c.workflow_id == workflow_id),
                                "reading a workflow")
        return found[0] if found else None

    def list_workflow_ids(self) -> list[str]:
        with self._tx("listing workflows") as conn:
            return list(conn.execute(select(workflows.c.workflow_id).order_by(workflows.c.id)).scalars())

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
                stmt = stmt.where(column >= _to_us(moment) if lower else column <= _to_us(moment))
        stmt = stmt.order_by(wf.started_at_us.desc(), wf.workflow_id).offset(filter.offset or None)
        if filter.limit is not None:
            stmt = stmt.limit(filter.limit)
        return self._summaries(stmt, "querying workflows")

    # -- timers ----------------------------------------------------------

    def schedule_timer(self, workflow_id: str, timer_id: str, fire_at: datetime) -> None:
        if fire_at.tzinfo is None:
            raise StoreError(f"timer {timer_id!r} has a naive fire_at")
        with self._tx("scheduling a timer", write=True) as conn:
            conn.execute(self._upsert_timer, {"workflow_id": workflow_id, "timer_id": timer_id,
                                              "fire_at_us": _to_us(fire_at)})

    def cancel_timer(self, workflow_id: str, timer_id: str) -> None:
        with self._tx("cancelling a timer", write=True) as conn:
            conn.execute(self._delete_timer, {"k_wf": workflow_id, "k_tid": timer_id})

    def _timers(self, stmt: Any, action: str) -> list[TimerRow]:
        t = timers.c
        with self._tx(action) as conn:
            rows = conn.execute(stmt.order_by(t.fire_at_us, t.workflow_id, t.timer_id)).all()
        try:
            return [TimerRow(w, tid, _from_us(us)) for w, tid, us in rows]
        except (TypeError, OverflowError) as exc:
            raise StoreError(f"a timer row is corrupted ({exc}); restore the store from a backup") from exc

    def expired_timers(self, as_of: datetime) -> list[TimerRow]:
        return self._timers(select(timers).where(timers.c.fire_at_us <= _to_us(as_of)), "reading expired timers")

    def next_timer_due(self) -> datetime | None:
        with self._tx("reading the next timer") as conn:
            us = conn.execute(select(func.min(timers.c.fire_at_us))).scalar()
        return None if us is None else _from_us(us)

    def timers_of(self, workflow_id: str) -> list[TimerRow]:
        return self._timers(select(timers).where(timers.c.workflow_id == workflow_id), "reading timers")

    # -- lifecycle -------------------------------------------------------

    def close(self) -> None:
        """Dispose of the engine's connections; later calls raise `StoreError`."""
        self._closed = True
        self._engine.dispose()
