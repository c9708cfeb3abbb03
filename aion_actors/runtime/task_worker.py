"""An engine's task worker: claims attempts from the queues it serves, runs them, reports back.

One thread per engine given `task_queues`. It claims up to each queue's free
slots (its `worker_concurrency` minus its attempts running here), runs each attempt through an
`ActivityRunner` of its own (the machinery local attempts use: thread pool,
asyncio loop, process pool per `@activity.defn(executor=...)`, the same
`activity.info()`), renews its claims about every lease/3 and whenever an
attempt heartbeats (carrying the details, which the owner relays to the
run), cancels the code whose renewal answers "cancel" or "lost", and
finishes each claim with its outcome. A lost claim's outcome is dropped:
the store would refuse it anyway (fenced by the claim's token), and the
owner already retries it. When idle it polls every ~`poll` seconds.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from stores.tasks import CANCEL, OK, QueueLimits, Task, TaskQueues

from ..definitions import Registry
from ..task_queue import TaskQueue
from .activities import ActivityRunner, attempt_key
from ..payload import Payload
from .messages import AttemptDone, Heartbeat
from .task_codec import encode_details, encode_outcome, run_attempt

log = logging.getLogger("aion_actors.tasks")

POLL = 0.05


@dataclass(slots=True)
class _Claim:
    task: Task
    key: tuple
    details: Payload | None = None  # heartbeat details not yet renewed with
    lost: bool = False


class TaskWorker:
    def __init__(self, store: TaskQueues, registry: Registry, worker: str, queues: tuple[TaskQueue, ...],
                 lease: float, cancel_grace: float, on_finished: Callable[[Task], None] = lambda task: None,
                 poll: float = POLL) -> None:
        self._store = store
        self._worker = worker
        self._queues = queues
        self._slots = sum(q.slots for q in queues)
        self._lease = lease
        self._poll = poll
        self._on_finished = on_finished
        self._inbox: queue.Queue = queue.Queue()
        self._runner = ActivityRunner(registry, lambda task_id, msg: self._inbox.put((task_id, msg)),
                                      workers=self._slots, cancel_grace=cancel_grace)
        self._claims: dict[int, _Claim] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="aion-task-worker", daemon=True)

    def start(self) -> "TaskWorker":
        for q in self._queues:
            if (q.concurrency, q.rate_limit) != (None, None) or q.partitioned:
                self._store.define_queue(q.name, QueueLimits(q.concurrency, q.rate_limit, float(q.rate_period),
                                                             q.partitioned))
        self._thread.start()
        return self

    def running(self) -> int:
        return len(self._claims)

    def close(self) -> None:
        """Stop claiming, cancel what runs, and give its claims up so their owners retry them at once."""
        self._stop.set()
        self._inbox.put(None)
        self._thread.join(timeout=10)
        self._runner.shutdown()
        try:
            self._store.release_tasks(self._worker)
        except Exception:  # noqa: BLE001 - the claims lapse with their leases anyway
            log.exception("task worker %s could not release its claims; they lapse with their leases",
                          self._worker)

    # -- the worker thread --------------------------------------------------------

    def _run(self) -> None:
        next_claim = next_renew = time.monotonic()
        while not self._stop.is_set():
            now = time.monotonic()
            try:
                if now >= next_renew or any(c.details is not None for c in self._claims.values()):
                    self._renew()
                    next_renew = now + self._lease / 3
                if now >= next_claim and len(self._claims) < self._slots:
                    claimed = self._claim()
                    next_claim = now if claimed else now + self._poll
            except Exception:  # noqa: BLE001 - a store hiccup: claims lapse at worst, and are retried
                log.exception("task worker %s: a store call failed; trying again", self._worker)
                next_claim = now + self._poll
            wait = max(0.0, min(next_renew, next_claim if len(self._claims) < self._slots else next_renew)
                       - time.monotonic())
            try:
                item = self._inbox.get(timeout=wait)
            except queue.Empty:
                continue
            while item is not None:
                self._handle(*item)
                try:
                    item = self._inbox.get_nowait()
                except queue.Empty:
                    item = None

    def _claim(self) -> int:
        """Claim per queue, up to its own free slots: one queue never takes another's share."""
        claimed = 0
        for q in self._queues:
            free = q.slots - sum(1 for c in self._claims.values() if c.task.queue == q.name)
            if free <= 0:
                continue
            for task in self._store.claim_tasks(self._worker, [q.name], free, self._lease):
                attempt = run_attempt(task)
                self._claims[task.id] = _Claim(task, attempt_key(attempt))
                self._runner.submit(task.id, attempt)
                claimed += 1
        return claimed

    def _renew(self) -> None:
        live = {i: c for i, c in self._claims.items() if not c.lost}
        if not live:
            return
        details = {i: encode_details(c.details) for i, c in live.items() if c.details is not None}
        for c in live.values():
            c.details = None
        answers = self._store.renew_tasks(self._worker, [(i, c.task.token) for i, c in live.items()],
                                          self._lease, details or None)
        for task_id, answer in answers.items():
            claim = live.get(task_id)
            if claim is None or answer == OK:
                continue
            if answer == CANCEL:
                self._runner.cancel(claim.key, "the attempt's workflow no longer wants it")
            else:  # lost: its owner retries it elsewhere; whatever it returns is dropped
                claim.lost = True
                self._runner.cancel(claim.key, "this worker lost its claim on the attempt")

    def _handle(self, task_id: int, msg: Any) -> None:
        claim = self._claims.get(task_id)
        if claim is None:
            return
        if isinstance(msg, Heartbeat):
            claim.details = msg.details
            return
        if isinstance(msg, AttemptDone):
            del self._claims[task_id]
            self._runner.forget(claim.key)
            if claim.lost:
                return
            if msg.heartbeat is None and claim.details is not None:  # a beat not renewed with yet
                msg = dataclasses.replace(msg, heartbeat=claim.details)
            if self._store.finish_task(task_id, claim.task.token, encode_outcome(msg)):
                self._on_finished(claim.task)
