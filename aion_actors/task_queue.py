"""Task queues as users name them: which queue an activity runs on, and a queue's limits.

An activity declared (or called) with `task_queue="gpu"` does not run in the
process that owns its workflow: each attempt becomes a task in the store, run
by whichever engine serves "gpu" (`Engine(task_queues=["gpu"])`, or
`aion worker --task-queue gpu app.py`). Validation lives here so a mistake
fails at the decorator, the call or the `Engine(...)`, never later.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import InvalidArgument

DEFAULT_WORKER_CONCURRENCY = 8


def check_queue_name(name: object) -> str:
    if not isinstance(name, str) or not name or name != name.strip() or len(name) > 200:
        raise InvalidArgument(f"a task queue name must be a non-empty string of at most 200 characters without "
                              f"surrounding spaces, got {name!r}")
    return name


def check_priority(priority: object) -> int:
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise InvalidArgument(f"priority must be an int (higher runs first), got {priority!r}")
    return priority


def check_partition_key(key: object) -> str | None:
    if key is not None and (not isinstance(key, str) or not key):
        raise InvalidArgument(f"partition_key must be a non-empty string or None, got {key!r}")
    return key


def _limit(label: str, value: object) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise InvalidArgument(f"TaskQueue {label} must be an int >= 1 or None (unlimited), got {value!r}")


@dataclass(frozen=True, slots=True)
class TaskQueue:
    """A queue an engine serves, with its limits.

    Attributes:
        name: the queue's name, as activities give it in `task_queue=`.
        concurrency: at most this many of its attempts run at once across the whole
            cluster. The cluster-wide limits (`concurrency`, `rate_limit`, `rate_period`,
            `partitioned`) are written to the store when the engine opens, if any is given
            (the latest engine's definition wins); a queue given without any keeps the
            limits stored for it.
        worker_concurrency: at most this many run at once on this engine
            (default 8).
        rate_limit: at most this many attempts start per `rate_period` seconds across
            the cluster.
        rate_period: the rate limit's window in seconds.
        partitioned: both cluster-wide limits apply per `partition_key`.
    """

    name: str
    concurrency: int | None = None
    worker_concurrency: int | None = None
    rate_limit: int | None = None
    rate_period: float = 60.0
    partitioned: bool = False

    def __post_init__(self) -> None:
        check_queue_name(self.name)
        _limit("concurrency", self.concurrency)
        _limit("worker_concurrency", self.worker_concurrency)
        _limit("rate_limit", self.rate_limit)
        if isinstance(self.rate_period, bool) or not isinstance(self.rate_period, (int, float)) \
                or not 0 < self.rate_period < math.inf:
            raise InvalidArgument(f"TaskQueue rate_period must be a positive number of seconds, "
                                  f"got {self.rate_period!r}")
        if not isinstance(self.partitioned, bool):
            raise InvalidArgument(f"TaskQueue partitioned must be True or False, got {self.partitioned!r}")

    @property
    def slots(self) -> int:
        return self.worker_concurrency or DEFAULT_WORKER_CONCURRENCY


def task_queues(given: object) -> tuple[TaskQueue, ...]:
    """`Engine(task_queues=...)` as `TaskQueue`s: each item a name or a `TaskQueue`, no name twice."""
    if isinstance(given, (str, TaskQueue)):
        given = [given]
    try:
        items = list(given)
    except TypeError:
        raise InvalidArgument(f"task_queues must be a list of queue names or TaskQueue, got {given!r}") from None
    queues = tuple(item if isinstance(item, TaskQueue) else TaskQueue(check_queue_name(item)) for item in items)
    names = [q.name for q in queues]
    if len(set(names)) != len(names):
        raise InvalidArgument(f"task_queues names a queue twice: {names!r}; give each queue once")
    return queues
