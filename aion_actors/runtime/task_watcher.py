"""One thread per node that follows every task its runs put on task queues.

One `read_tasks` per pass for all of them, never a poll per task: every
~20 ms while any is outstanding, at once when woken (a worker pokes the
owner after finishing a task; a missed poke costs one poll interval). What
it sees goes to each task's `RemoteAttemptActor` through the driver: grown
`beats` as a `Heartbeat`, a finished task's outcome as its `AttemptDone`, a
lost claim (or a lapsed lease, once `expire_task` made it lost: the fencing
that refuses the late worker's finish) as `AttemptDone(worker_died=True)`.
Tasks whose outcome was relayed, and abandoned ones once over, are deleted.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any, Callable

from stores.tasks import CANCELLED, CLAIMED, FINISHED, LOST, Task, TaskQueues

from .messages import AttemptDone, Heartbeat
from .task_codec import decode_details, decode_outcome

log = logging.getLogger("aion_actors.tasks")

POLL = 0.02


@dataclass(slots=True)
class _Watched:
    address: Any
    activity_id: int
    attempt: int
    beats: int = 0
    abandoned: bool = False


class TaskWatcher:
    def __init__(self, store: TaskQueues, post: Callable[[Any, Any], None], poll: float = POLL) -> None:
        self._store = store
        self._post = post
        self._poll = poll
        self._lock = threading.Lock()
        self._watched: dict[int, _Watched] = {}
        self._woken = threading.Event()
        self._stopped = False
        self._thread: threading.Thread | None = None

    def watch(self, task_id: int, address: Any, activity_id: int, attempt: int) -> None:
        with self._lock:
            self._watched[task_id] = _Watched(address, activity_id, attempt)
            if self._thread is None and not self._stopped:
                self._thread = threading.Thread(target=self._run, name="aion-task-watcher", daemon=True)
                self._thread.start()
        self._woken.set()

    def sweep(self, task_ids: list[int]) -> None:
        """Tasks of attempts nobody follows any more (put before this owner took over): delete them once over."""
        with self._lock:
            for task_id in task_ids:
                self._watched.setdefault(task_id, _Watched(None, 0, 0, abandoned=True))
        self._woken.set()

    def abandon(self, task_id: int) -> None:
        """Its attempt was told to stop: relay nothing more, delete it once it is over."""
        with self._lock:
            watched = self._watched.get(task_id)
            if watched is not None:
                watched.abandoned = True

    def outstanding(self) -> int:
        with self._lock:
            return len(self._watched)

    def wake(self) -> None:
        self._woken.set()

    def close(self) -> None:
        with self._lock:
            self._stopped = True
            thread = self._thread
        self._woken.set()
        if thread is not None:
            thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            with self._lock:
                if self._stopped:
                    return
                ids = list(self._watched)
            if ids:
                try:
                    self._pass(ids)
                except Exception:  # noqa: BLE001 - a store hiccup: the next pass tries again
                    log.exception("reading this node's tasks failed; trying again")
            self._woken.wait(self._poll if ids else None)
            self._woken.clear()

    def _pass(self, ids: list[int]) -> None:
        found = {t.id: t for t in self._store.read_tasks(ids)}
        over: list[int] = []
        for task_id in ids:
            with self._lock:
                watched = self._watched.get(task_id)
            if watched is None:
                continue
            task = found.get(task_id)
            if task is None:  # deleted behind our back (by hand): as good as lost
                if not watched.abandoned:
                    self._post(watched.address, AttemptDone(watched.activity_id, watched.attempt, worker_died=True))
                over.append(task_id)
            elif self._settle(task, watched):
                over.append(task_id)
        if over:
            with self._lock:
                for task_id in over:
                    self._watched.pop(task_id, None)
            self._store.delete_tasks(over)

    def _settle(self, task: Task, watched: _Watched) -> bool:
        """Relay what is new about `task`; whether it is over (to delete)."""
        if watched.abandoned:
            return task.state in (FINISHED, LOST, CANCELLED) or (
                task.state == CLAIMED and task.lease_expired and self._store.expire_task(task.id, task.token))
        activity_id = int(task.activity_id)
        if task.beats > watched.beats and task.details is not None:
            watched.beats = task.beats
            self._post(watched.address, Heartbeat(activity_id, task.attempt, decode_details(task.details)))
        if task.state == FINISHED:
            self._post(watched.address, decode_outcome(task))
            return True
        if task.state == LOST or (task.state == CLAIMED and task.lease_expired
                                  and self._store.expire_task(task.id, task.token)):
            self._post(watched.address, AttemptDone(activity_id, task.attempt, worker_died=True))
            return True
        # Cancelled without being asked: a newer attempt of the activity superseded it (another
        # owner after a failover); that owner follows the newer one.
        return task.state == CANCELLED
