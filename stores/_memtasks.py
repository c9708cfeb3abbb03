"""The `TaskQueues` of `InMemoryStore`: tasks and queue limits behind the store's one lock.

Private to `stores.memory`. Leases are judged by the store's (injectable)
clock, as `_memleases` judges shard leases. The reference the SQL store is
tested against: a claim sees every pending task at once, so one `pick`
decides it.
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter, deque
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Callable, Iterable, Sequence

from ._checks import (check_claimer, check_finish, check_ints, check_limits, check_name, check_new_task,
                      check_renewal, check_task_claim)
from ._taskpick import Budgets, Slot, claim_order, pick, slot_of
from .tasks import (CANCEL, CANCELLED, CLAIMED, FINISHED, LOST, OK, PENDING, NewTask, QueueLimits, QueueStats,
                    Task, TaskQueues)

_UNFINISHED = (PENDING, CLAIMED)


class MemoryTaskQueues(TaskQueues):
    """Needs the host's `_lock` and `_clock` (`MemoryLeases`); `_init_tasks` sets the rest."""

    _lock: threading.Lock
    _clock: Callable[[], datetime]

    def _init_tasks(self) -> None:
        self._queues: dict[str, QueueLimits | None] = {}  # None: known (claimed from) but never defined
        self._tasks: dict[int, Task] = {}  # insertion order is id order
        self._task_keys: dict[tuple[str, str, str, int], int] = {}
        self._task_ids = itertools.count(1)
        self._starts: dict[str, deque[tuple[datetime, Slot]]] = {}  # per queue, oldest first

    def _limits(self, name: str) -> QueueLimits:
        return self._queues.get(name) or QueueLimits()

    def _lapsed(self, task: Task, now: datetime) -> bool:
        return task.state == CLAIMED and task.lease_expires_at is not None and task.lease_expires_at < now

    def _as_read(self, task: Task, now: datetime) -> Task:
        return replace(task, lease_expired=self._lapsed(task, now))

    def define_queue(self, name: str, limits: QueueLimits) -> None:
        check_limits(name, limits)
        with self._lock:
            self._queues[name] = limits

    def queue_limits(self, name: str) -> QueueLimits:
        check_name("a queue name", name)
        with self._lock:
            return self._limits(name)

    def put_task(self, task: NewTask) -> int:
        check_new_task(task)
        key = (task.workflow_id, task.run_id, task.activity_id, task.attempt)
        with self._lock:
            if key in self._task_keys:
                return self._task_keys[key]
            newer = False
            for other in self._tasks.values():
                if (other.workflow_id, other.run_id, other.activity_id) != key[:3]:
                    continue
                if other.attempt > task.attempt:
                    newer = True
                elif other.state == PENDING:
                    self._tasks[other.id] = replace(other, state=CANCELLED)
                elif other.state == CLAIMED:
                    self._tasks[other.id] = replace(other, cancel_requested=True)
            task_id = next(self._task_ids)
            self._tasks[task_id] = Task(task_id, task.queue, task.workflow_id, task.run_id, task.activity_id,
                                        task.attempt, task.activity_type, bytes(task.body), task.priority,
                                        task.partition_key, CANCELLED if newer else PENDING, self._clock())
            self._task_keys[key] = task_id
            return task_id

    def claim_tasks(self, worker: str, queues: Iterable[str], limit: int, lease: float) -> list[Task]:
        names = check_task_claim(worker, queues, limit, lease)
        with self._lock:
            now = self._clock()
            limits = {}
            for name in names:
                self._queues.setdefault(name, None)
                limits[name] = self._limits(name)
            held: Counter[Slot] = Counter()
            waiting = []
            for task in self._tasks.values():
                if task.queue not in limits:
                    continue
                if task.state == CLAIMED:
                    held[slot_of(task.queue, task.partition_key, limits[task.queue])] += 1
                elif task.state == PENDING:
                    waiting.append(task)
            started: Counter[Slot] = Counter()
            for name in names:
                starts = self._starts.setdefault(name, deque())
                window = timedelta(seconds=limits[name].rate_period)
                while starts and starts[0][0] <= now - window:
                    starts.popleft()
                started.update(slot for _, slot in starts)
            taken, _ = pick(waiting, limits, Budgets(limits, held, started), limit)
            claimed = []
            for task in taken:
                task = replace(task, state=CLAIMED, claimed_by=worker, token=task.token + 1, claimed_at=now,
                               lease_expires_at=now + timedelta(seconds=lease))
                self._tasks[task.id] = task
                if limits[task.queue].rate_limit is not None:
                    self._starts[task.queue].append((now, slot_of(task.queue, task.partition_key,
                                                                  limits[task.queue])))
                claimed.append(task)
            return sorted(claimed, key=claim_order)

    def renew_tasks(self, worker: str, claims: Sequence[tuple[int, int]], lease: float,
                    details: dict[int, bytes] | None = None) -> dict[int, str]:
        tokens = check_renewal(worker, claims, lease, details)
        details = details or {}
        answers = {}
        with self._lock:
            now = self._clock()
            for task_id, token in tokens.items():
                task = self._tasks.get(task_id)
                if (task is None or task.state != CLAIMED or task.token != token or task.claimed_by != worker
                        or self._lapsed(task, now)):
                    answers[task_id] = "lost"
                    continue
                task = replace(task, lease_expires_at=now + timedelta(seconds=lease))
                if task_id in details:
                    task = replace(task, details=bytes(details[task_id]), beats=task.beats + 1)
                self._tasks[task_id] = task
                answers[task_id] = CANCEL if task.cancel_requested else OK
        return answers

    def finish_task(self, task_id: int, token: int, outcome: bytes) -> bool:
        check_finish(task_id, token, outcome)
        with self._lock:
            task = self._tasks.get(task_id)
            if task is None or task.state != CLAIMED or task.token != token or self._lapsed(task, self._clock()):
                return False
            self._tasks[task_id] = replace(task, state=FINISHED, outcome=bytes(outcome))
            return True

    def cancel_task(self, task_id: int) -> None:
        check_ints("cancel_task's id", [task_id])
        with self._lock:
            task = self._tasks.get(task_id)
            if task is not None and task.state == PENDING:
                self._tasks[task_id] = replace(task, state=CANCELLED)
            elif task is not None and task.state == CLAIMED:
                self._tasks[task_id] = replace(task, cancel_requested=True)

    def read_tasks(self, ids: Iterable[int]) -> list[Task]:
        wanted = sorted(set(check_ints("read_tasks' ids", ids)))
        with self._lock:
            now = self._clock()
            return [self._as_read(self._tasks[i], now) for i in wanted if i in self._tasks]

    def unfinished_tasks(self, workflow_id: str) -> list[Task]:
        check_name("a workflow id", workflow_id)
        with self._lock:
            now = self._clock()
            return [self._as_read(t, now) for t in self._tasks.values()
                    if t.workflow_id == workflow_id and t.state in _UNFINISHED]

    def expire_task(self, task_id: int, token: int) -> bool:
        check_ints("expire_task's id and token", [task_id, token])
        with self._lock:
            task = self._tasks.get(task_id)
            if task is None or task.token != token or not self._lapsed(task, self._clock()):
                return False
            self._tasks[task_id] = replace(task, state=LOST)
            return True

    def release_tasks(self, worker: str) -> int:
        check_claimer(worker)
        with self._lock:
            held = [t for t in self._tasks.values() if t.state == CLAIMED and t.claimed_by == worker]
            for task in held:
                self._tasks[task.id] = replace(task, state=LOST)
            return len(held)

    def delete_tasks(self, ids: Iterable[int]) -> int:
        wanted = set(check_ints("delete_tasks' ids", ids))
        with self._lock:
            gone = [self._tasks.pop(i) for i in wanted if i in self._tasks]
            for task in gone:
                del self._task_keys[(task.workflow_id, task.run_id, task.activity_id, task.attempt)]
            return len(gone)

    def queue_stats(self) -> list[QueueStats]:
        with self._lock:
            names = set(self._queues) | {t.queue for t in self._tasks.values()}
            stats = []
            for name in sorted(names):
                mine = [t for t in self._tasks.values() if t.queue == name]
                pending = [t for t in mine if t.state == PENDING]
                claimed = [t for t in mine if t.state == CLAIMED]
                stats.append(QueueStats(name, self._limits(name), len(pending), len(claimed),
                                        min((t.created_at for t in pending), default=None),
                                        tuple(sorted({t.claimed_by for t in claimed if t.claimed_by}))))
            return stats
