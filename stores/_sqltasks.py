"""The task queues of `SqlStore`, on SQLite and PostgreSQL alike.

A claim is one transaction that counts a queue's limits and takes tasks with
nobody else counting the same queue meanwhile. On PostgreSQL each claimer
first locks its queues' rows (`SELECT ... FOR UPDATE`, created on first use,
locked in name order so claimers of overlapping queues cannot deadlock), then
reads the store's clock, counts, and takes pending rows `FOR UPDATE SKIP
LOCKED` (a row an owner is cancelling is skipped, not waited for). On SQLite
the transaction is `BEGIN IMMEDIATE`: one writer at a time, in any process.
The clock is read after the lock is held, so claims serialised by the lock
see non-decreasing times, which is what makes the rate-limit count exact.
Workers poll often, so on SQLite a claim first asks, without taking the
write lock that would stall appends, whether its queues are known and hold
anything pending at all (as the request inbox does).

Every time is the store's clock (`_sqlleases.store_now`), in integer
microseconds. Renewing, finishing and expiring a claim are single conditional
statements: the claim's token, its state and its lease are in the `WHERE`,
so a stale worker's write matches nothing (fencing in the write path).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Callable, ContextManager, Iterable, Sequence

from sqlalchemy import Connection, and_, bindparam, case, delete, func, literal, or_, select, tuple_, update

from . import _sqlhooks as hooks
from ._checks import (check_claimer, check_finish, check_ints, check_limits, check_name, check_new_task,
                      check_renewal, check_task_claim)
from ._sqlleases import store_now
from ._sqlwrites import from_us
from ._taskpick import Budgets, Slot, claim_order, pick, slot_of
from .schema import task_queues, task_starts, tasks
from .tasks import (CANCEL, CANCELLED, CLAIMED, FINISHED, LOST, OK, PENDING, NewTask, QueueLimits, QueueStats,
                    Task, TaskQueues)

_RETRIES = 5
_US = 1_000_000
_COLUMNS = tuple(tasks.c[name] for name in (
    "id", "queue", "workflow_id", "run_id", "activity_id", "attempt", "activity_type", "body", "priority",
    "partition_key", "state", "created_us", "claimed_by", "token", "claimed_us", "lease_us", "cancel_requested",
    "beats", "details", "outcome"))


def _task(row: Any, now: int) -> Task:
    (task_id, queue, workflow_id, run_id, activity_id, attempt, activity_type, body, priority, partition_key,
     state, created, claimed_by, token, claimed, lease, cancel, beats, details, outcome) = row
    return Task(task_id, queue, workflow_id, run_id, activity_id, attempt, activity_type, bytes(body), priority,
                partition_key, state, from_us(created), claimed_by, token,
                None if claimed is None else from_us(claimed), None if lease is None else from_us(lease),
                state == CLAIMED and lease is not None and lease < now, bool(cancel), beats,
                None if details is None else bytes(details), None if outcome is None else bytes(outcome))


def _limits(row: Any) -> QueueLimits:
    concurrency, rate_limit, period_us, partitioned = row
    return QueueLimits(concurrency, rate_limit, period_us / _US, bool(partitioned))


def _row_of(limits: QueueLimits) -> dict[str, Any]:
    return {"concurrency": limits.concurrency, "rate_limit": limits.rate_limit,
            "rate_period_us": round(limits.rate_period * _US), "partitioned": limits.partitioned}


class _Candidate:
    """A pending row as `pick` sees it."""

    __slots__ = ("id", "queue", "priority", "partition_key")

    def __init__(self, task_id: int, queue: str, priority: int, partition_key: str | None) -> None:
        self.id, self.queue, self.priority, self.partition_key = task_id, queue, priority, partition_key


class SqlTaskQueues(TaskQueues):
    """The `TaskQueues` of `SqlStore`, given the store's `_tx(action, write=)`, `_insert`, `_engine` and
    `_direct` (not None on SQLite)."""

    _tx: Callable[..., ContextManager[Connection]]
    _insert: Callable[..., Any]
    _engine: Any
    _direct: Any

    def _task_now(self) -> Any:
        return store_now(self._engine.dialect.name)

    def _in_tx(self, action: str, work: Callable[[Connection], Any]) -> Any:
        """Run `work` in one write transaction, again when PostgreSQL reports a lost race."""
        for attempt in range(_RETRIES):
            try:
                with self._tx(action, write=True) as conn:
                    return work(conn)
            except hooks.RetryableConflict:
                if attempt == _RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

    def _read(self, action: str, stmt: Any) -> list[Task]:
        with self._tx(action) as conn:
            now = conn.execute(select(self._task_now())).scalar_one()
            return [_task(row, now) for row in conn.execute(stmt.order_by(tasks.c.id))]

    # -- queues ---------------------------------------------------------------

    def define_queue(self, name: str, limits: QueueLimits) -> None:
        check_limits(name, limits)
        upsert = self._insert(task_queues).values(name=name, **_row_of(limits))
        upsert = upsert.on_conflict_do_update(index_elements=["name"], set_=_row_of(limits))
        self._in_tx("defining a queue", lambda conn: conn.execute(upsert))

    def queue_limits(self, name: str) -> QueueLimits:
        check_name("a queue name", name)
        q = task_queues.c
        with self._tx("reading a queue's limits") as conn:
            row = conn.execute(select(q.concurrency, q.rate_limit, q.rate_period_us, q.partitioned)
                               .where(q.name == name)).first()
        return QueueLimits() if row is None else _limits(row)

    # -- the owner's side ------------------------------------------------------

    def put_task(self, task: NewTask) -> int:
        check_new_task(task)
        t = tasks.c
        same = and_(t.workflow_id == task.workflow_id, t.run_id == task.run_id, t.activity_id == task.activity_id)
        row = {"queue": task.queue, "workflow_id": task.workflow_id, "run_id": task.run_id,
               "activity_id": task.activity_id, "attempt": task.attempt, "activity_type": task.activity_type,
               "body": bytes(task.body), "priority": task.priority, "partition_key": task.partition_key,
               "state": PENDING, "created_us": self._task_now(), "token": 0, "cancel_requested": False, "beats": 0}
        insert = (self._insert(tasks).values(row)
                  .on_conflict_do_nothing(index_elements=["workflow_id", "run_id", "activity_id", "attempt"])
                  .returning(t.id))

        def put(conn: Connection) -> int:
            task_id = conn.execute(insert).scalar()
            if task_id is None:  # put before: idempotent
                return conn.execute(select(t.id).where(same, t.attempt == task.attempt)).scalar_one()
            # One statement judges each older row as it stands: pending is cancelled, claimed is asked to stop.
            conn.execute(update(tasks).where(same, t.attempt < task.attempt, t.state.in_((PENDING, CLAIMED)))
                         .values(state=case((t.state == PENDING, CANCELLED), else_=t.state),
                                 cancel_requested=or_(t.cancel_requested, t.state == CLAIMED)))
            if conn.execute(select(t.id).where(same, t.attempt > task.attempt).limit(1)).first() is not None:
                conn.execute(update(tasks).where(t.id == task_id).values(state=CANCELLED))
            return task_id

        return self._in_tx("putting a task", put)

    def cancel_task(self, task_id: int) -> None:
        check_ints("cancel_task's id", [task_id])
        t = tasks.c
        stmt = (update(tasks).where(t.id == task_id, t.state.in_((PENDING, CLAIMED)))
                .values(state=case((t.state == PENDING, CANCELLED), else_=t.state),
                        cancel_requested=or_(t.cancel_requested, t.state == CLAIMED)))
        self._in_tx("cancelling a task", lambda conn: conn.execute(stmt))

    def read_tasks(self, ids: Iterable[int]) -> list[Task]:
        wanted = sorted(set(check_ints("read_tasks' ids", ids)))
        if not wanted:
            return []
        return self._read("reading tasks", select(*_COLUMNS).where(tasks.c.id.in_(wanted)))

    def unfinished_tasks(self, workflow_id: str) -> list[Task]:
        check_name("a workflow id", workflow_id)
        t = tasks.c
        return self._read("reading a workflow's tasks",
                          select(*_COLUMNS).where(t.workflow_id == workflow_id, t.state.in_((PENDING, CLAIMED))))

    def expire_task(self, task_id: int, token: int) -> bool:
        check_ints("expire_task's id and token", [task_id, token])
        t = tasks.c
        stmt = (update(tasks).where(t.id == task_id, t.token == token, t.state == CLAIMED,
                                    t.lease_us < self._task_now()).values(state=LOST))
        return self._in_tx("expiring a task", lambda conn: conn.execute(stmt).rowcount) == 1

    def release_tasks(self, worker: str) -> int:
        check_claimer(worker)
        t = tasks.c
        stmt = update(tasks).where(t.claimed_by == worker, t.state == CLAIMED).values(state=LOST)
        return self._in_tx("releasing a worker's tasks", lambda conn: conn.execute(stmt).rowcount)

    def delete_tasks(self, ids: Iterable[int]) -> int:
        wanted = sorted(set(check_ints("delete_tasks' ids", ids)))
        if not wanted:
            return 0
        stmt = delete(tasks).where(tasks.c.id.in_(wanted))
        return self._in_tx("deleting tasks", lambda conn: conn.execute(stmt).rowcount)

    def queue_stats(self) -> list[QueueStats]:
        t, q = tasks.c, task_queues.c
        with self._tx("reading queue figures") as conn:
            defined = {name: _limits(rest) for name, *rest in conn.execute(
                select(q.name, q.concurrency, q.rate_limit, q.rate_period_us, q.partitioned))}
            counts = conn.execute(select(t.queue, t.state, func.count(), func.min(t.created_us))
                                  .where(t.state.in_((PENDING, CLAIMED))).group_by(t.queue, t.state)).all()
            holders = conn.execute(select(t.queue, t.claimed_by).where(t.state == CLAIMED).distinct()).all()
            known = set(defined) | {name for (name,) in conn.execute(select(t.queue).distinct())}
        figures = {name: [0, 0, None, set()] for name in known}
        for name, state, count, oldest in counts:
            if state == PENDING:
                figures[name][0], figures[name][2] = count, from_us(oldest)
            else:
                figures[name][1] = count
        for name, worker in holders:
            figures[name][3].add(worker)
        return [QueueStats(name, defined.get(name, QueueLimits()), pending, claimed, oldest, tuple(sorted(workers)))
                for name, (pending, claimed, oldest, workers) in sorted(figures.items())]

    # -- the worker's side -----------------------------------------------------

    def claim_tasks(self, worker: str, queues: Iterable[str], limit: int, lease: float) -> list[Task]:
        names = check_task_claim(worker, queues, limit, lease)
        if self._direct is not None and self._nothing_to_claim(names):
            return []
        return self._in_tx("claiming tasks", lambda conn: self._claim(conn, worker, names, limit, lease))

    def _nothing_to_claim(self, names: list[str]) -> bool:
        """Whether every queue named has its row (so a claim would create none) and none has a pending task."""
        q, t = task_queues.c, tasks.c
        with self._tx("looking for tasks") as conn:
            known = conn.execute(select(func.count()).select_from(task_queues).where(q.name.in_(names))).scalar()
            return known == len(names) and conn.execute(
                select(t.id).where(t.queue.in_(names), t.state == PENDING).limit(1)).first() is None

    def _claim(self, conn: Connection, worker: str, names: list[str], limit: int, lease: float) -> list[Task]:
        limits = self._lock_queues(conn, names)
        now = conn.execute(select(self._task_now())).scalar_one()  # after the lock: see the module's docstring
        chosen = self._choose(conn, names, limits, self._budgets(conn, names, limits, now), limit)
        if not chosen:
            return []
        t = tasks.c
        claimed = conn.execute(
            update(tasks).where(t.id.in_([c.id for c in chosen]), t.state == PENDING)
            .values(state=CLAIMED, claimed_by=worker, token=t.token + 1, claimed_us=literal(now),
                    lease_us=literal(now + round(lease * _US)))
            .returning(*_COLUMNS)).all()
        starts = [{"queue": row[1], "partition_key": row[9], "started_us": now}
                  for row in claimed if limits[row[1]].rate_limit is not None]
        if starts:
            conn.execute(task_starts.insert(), starts)
        return sorted((_task(row, now) for row in claimed), key=claim_order)

    def _lock_queues(self, conn: Connection, names: list[str]) -> dict[str, QueueLimits]:
        """Lock the queues' rows (created with no limits on first use), in name order; their limits."""
        q = task_queues.c
        conn.execute(self._insert(task_queues).on_conflict_do_nothing(index_elements=["name"]),
                     [{"name": name, **_row_of(QueueLimits())} for name in names])
        rows = conn.execute(select(q.name, q.concurrency, q.rate_limit, q.rate_period_us, q.partitioned)
                            .where(q.name.in_(names)).order_by(q.name).with_for_update()).all()
        return {name: _limits(rest) for name, *rest in rows}

    def _budgets(self, conn: Connection, names: list[str], limits: dict[str, QueueLimits], now: int) -> Budgets:
        """Each slot's claimed tasks and recent claims (pruning the claims past their queue's period)."""
        t, s = tasks.c, task_starts.c
        held: Counter[Slot] = Counter()
        for name, key, count in conn.execute(select(t.queue, t.partition_key, func.count())
                                             .where(t.queue.in_(names), t.state == CLAIMED)
                                             .group_by(t.queue, t.partition_key)):
            held[slot_of(name, key, limits[name])] += count
        started: Counter[Slot] = Counter()
        for name in names:
            window = now - round(limits[name].rate_period * _US)
            conn.execute(delete(task_starts).where(s.queue == name, s.started_us <= window))
            if limits[name].rate_limit is None:
                continue
            for key, count in conn.execute(select(s.partition_key, func.count())
                                           .where(s.queue == name, s.started_us > window)
                                           .group_by(s.partition_key)):
                started[slot_of(name, key, limits[name])] += count
        return Budgets(limits, held, started)

    def _choose(self, conn: Connection, names: list[str], limits: dict[str, QueueLimits], budgets: Budgets,
                limit: int) -> list[_Candidate]:
        """Up to `limit` pending tasks the budgets allow, in claim order, locked (`SKIP LOCKED`).

        Candidates come in pages of the room left per queue; a page may hold
        tasks of partitions that are full, so while room is left the next
        page skips the partitions found full (each page finds one more, or
        is the last).
        """
        t = tasks.c
        chosen: list[_Candidate] = []
        full: dict[str, set[Any]] = {name: set() for name in names}
        while len(chosen) < limit:
            room = limit - len(chosen)
            candidates = []
            for name in names:
                if not limits[name].partitioned and budgets.left((name, None)) == 0:
                    continue
                stmt = (select(t.id, t.queue, t.priority, t.partition_key)
                        .where(t.queue == name, t.state == PENDING)
                        .order_by(t.priority.desc(), t.id).limit(room).with_for_update(skip_locked=True))
                if chosen:
                    stmt = stmt.where(t.id.not_in([c.id for c in chosen]))
                keys = [key for key in full[name] if key is not None]
                if None in full[name]:
                    stmt = stmt.where(t.partition_key.is_not(None))
                if keys:
                    stmt = stmt.where(or_(t.partition_key.is_(None), t.partition_key.not_in(keys)))
                candidates += [_Candidate(*row) for row in conn.execute(stmt)]
            taken, found_full = pick(candidates, limits, budgets, room)
            chosen += taken
            for name, key in found_full:
                full[name].add(key)
            if not found_full:
                break  # every candidate was taken, or room ran out: no page would find more
        return chosen

    def renew_tasks(self, worker: str, claims: Sequence[tuple[int, int]], lease: float,
                    details: dict[int, bytes] | None = None) -> dict[int, str]:
        tokens = check_renewal(worker, claims, lease, details)
        if not tokens:
            return {}
        t, now = tasks.c, self._task_now()
        extend = (update(tasks)
                  .where(tuple_(t.id, t.token).in_(sorted(tokens.items())), t.claimed_by == worker,
                         t.state == CLAIMED, t.lease_us >= now)
                  .values(lease_us=now + round(lease * _US)).returning(t.id, t.cancel_requested))
        given = [{"k_id": i, "k_details": bytes(d)} for i, d in (details or {}).items()]

        def renew(conn: Connection) -> dict[int, bool]:
            kept = dict(conn.execute(extend).all())
            rows = [row for row in given if row["k_id"] in kept]
            if rows:  # the details of the claims just extended: the same transaction, so still ours
                conn.execute(update(tasks).where(t.id == bindparam("k_id"))
                             .values(details=bindparam("k_details"), beats=t.beats + 1), rows)
            return kept

        kept = self._in_tx("renewing task claims", renew)
        return {task_id: (CANCEL if kept[task_id] else OK) if task_id in kept else LOST for task_id in tokens}

    def finish_task(self, task_id: int, token: int, outcome: bytes) -> bool:
        check_finish(task_id, token, outcome)
        t = tasks.c
        stmt = (update(tasks).where(t.id == task_id, t.token == token, t.state == CLAIMED,
                                    t.lease_us >= self._task_now())
                .values(state=FINISHED, outcome=bytes(outcome)))
        return self._in_tx("finishing a task", lambda conn: conn.execute(stmt).rowcount) == 1

