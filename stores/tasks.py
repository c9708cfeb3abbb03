"""The `TaskQueues` contract: activity attempts handed to worker processes, under cluster-wide limits.

An activity declared on a named task queue does not run on the node that
owns its workflow. The owner puts each attempt in the store as a task; the
workers serving that queue claim tasks, run them, renew their claims while
they run, and finish them with an outcome the owner reads back and records.
The store keeps `body`, `details` and `outcome` opaque, as an `EventStore`
keeps event data: the engine and its workers agree on their meaning.

A task goes through: put (`pending`) → claimed by one worker (`claimed`) →
`finished` with an outcome → deleted when its owner has consumed it. Two
side exits: `cancelled` (the owner cancelled it, or put a newer attempt of
the same activity, before anyone claimed it) and `lost` (its claim's lease
lapsed and the owner saw it, or its worker was found dead). A lost or
cancelled task never runs again: a retry is a new task with the next
`attempt`.

Every claim carries a token. Renewals and the finish of a claim are
conditional on it in their own statement, so a worker whose claim was lost
finds out from a refused write, never from a race it won (the fencing of
`stores.leases`, applied to tasks). Leases are judged by the store's clock
(`ShardLeases.now()`), never by a worker's.

Per queue, `QueueLimits` hold across every claimer in every process:
`concurrency` caps the tasks claimed and not yet finished (lost), and
`rate_limit` the claims per `rate_period` seconds; with `partitioned` both
apply per `partition_key` instead (DBOS's partitioned queues).

The bundled stores (`InMemoryStore`, `SqlStore`) implement this next to
`EventStore`, `RequestInbox` and `ShardLeases`. Check a store of your own with
`stores.conformance_tasks.TaskQueuesConformance`.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from datetime import datetime
from typing import Iterable, Sequence

PENDING, CLAIMED, FINISHED, LOST, CANCELLED = "pending", "claimed", "finished", "lost", "cancelled"
STATES = (PENDING, CLAIMED, FINISHED, LOST, CANCELLED)
# What `renew_tasks` answers per task.
OK, CANCEL = "ok", "cancel"


@dataclass(frozen=True, slots=True)
class QueueLimits:
    """A queue's limits, the same for every claimer in the cluster; `None` is unlimited.

    Attributes:
        concurrency: at most this many of the queue's tasks claimed and not
            yet finished (or lost) at any instant; an int >= 1.
        rate_limit: at most this many claims in any `rate_period` seconds of
            the store's clock; an int >= 1.
        rate_period: the rate limit's window, in seconds (> 0).
        partitioned: both limits apply to each `partition_key` of the queue
            on its own (tasks without one share the partition `None`).
    """

    concurrency: int | None = None
    rate_limit: int | None = None
    rate_period: float = 60.0
    partitioned: bool = False


@dataclass(frozen=True, slots=True)
class NewTask:
    """One attempt of an activity, as the owner puts it.

    (`workflow_id`, `run_id`, `activity_id`, `attempt`) identify it: putting
    it twice puts it once. `priority`: higher is claimed first, then older.
    """

    queue: str
    workflow_id: str
    run_id: str
    activity_id: str
    attempt: int
    activity_type: str
    body: bytes
    priority: int = 0
    partition_key: str | None = None


@dataclass(frozen=True, slots=True)
class Task:
    """A task as it stands when read.

    `state` is one of `STATES`. `claimed_by`, `token`, `claimed_at` and
    `lease_expires_at` describe its (only) claim, `None` (token 0) before it;
    `lease_expired` is true for a claimed task whose lease has lapsed by the
    store's clock when it was read (its owner may then `expire_task` it).
    `details` are the last heartbeat details, `beats` how many heartbeats
    brought details, `outcome` what the worker finished it with.
    Timestamps are the store's clock, aware UTC.
    """

    id: int
    queue: str
    workflow_id: str
    run_id: str
    activity_id: str
    attempt: int
    activity_type: str
    body: bytes
    priority: int
    partition_key: str | None
    state: str
    created_at: datetime
    claimed_by: str | None = None
    token: int = 0
    claimed_at: datetime | None = None
    lease_expires_at: datetime | None = None
    lease_expired: bool = False
    cancel_requested: bool = False
    beats: int = 0
    details: bytes | None = None
    outcome: bytes | None = None


@dataclass(frozen=True, slots=True)
class QueueStats:
    """One queue's figures: its limits, `pending` (its depth), `claimed` (running), the
    `created_at` of its oldest pending task (`None` when none waits), and the workers
    holding claims on it, sorted."""

    name: str
    limits: QueueLimits
    pending: int
    claimed: int
    oldest_pending: datetime | None
    workers: tuple[str, ...]


class TaskQueues(abc.ABC):
    """Tasks put by workflow owners, claimed and finished by workers, read back by the owners.

    Every method may raise `StoreError` when the backend fails, and
    `StoreError` for malformed arguments before anything is written. Owners
    and workers may be threads or processes of several machines.
    """

    @abc.abstractmethod
    def define_queue(self, name: str, limits: QueueLimits) -> None:
        """Set a queue's limits (upsert: the latest definition wins), kept in the store.

        The next claim on the queue obeys them; claims already made stay.
        A rate limit counts the claims made while the queue had one: those
        made before it was given one are not counted.

        Raises:
            StoreError: `name` is not a non-empty string, or `limits` is not a
                `QueueLimits` with ints >= 1 (or None) and a positive period.
        """

    @abc.abstractmethod
    def queue_limits(self, name: str) -> QueueLimits:
        """A queue's limits as last defined; `QueueLimits()` (unlimited) for a queue never defined."""

    @abc.abstractmethod
    def put_task(self, task: NewTask) -> int:
        """Queue one attempt, `pending`, stamped `created_at` by the store's clock.

        Idempotent: putting a task with the same (`workflow_id`, `run_id`,
        `activity_id`, `attempt`) as one that exists (not yet deleted)
        changes nothing and returns the existing id. Putting attempt n supersedes the same activity's older
        attempts in the same transaction: pending ones become `cancelled`,
        claimed ones get `cancel_requested`. An attempt put after a newer one
        of the same activity is stored `cancelled`.

        Returns:
            Its id, greater than every id handed out before (never reused).

        Raises:
            StoreError: a field of `task` is malformed (empty names, an
                `attempt` < 1, a non-int `priority`, a `body` that is not
                bytes, an empty `partition_key`); nothing is written.
        """

    @abc.abstractmethod
    def claim_tasks(self, worker: str, queues: Iterable[str], limit: int, lease: float) -> list[Task]:
        """Claim up to `limit` pending tasks of `queues` for `worker`, for `lease` seconds of store time.

        Taken by `priority` descending, then id, never exceeding any queue's
        stored `concurrency` and `rate_limit` (per partition when
        partitioned), counted across every claimer in every process. Atomic:
        a task goes to one claimer. Each claim gets a fresh `token`.

        Returns:
            The claimed tasks, by priority descending then id; `[]` when none
            may be claimed.

        Raises:
            StoreError: `worker` is not a non-empty string, `queues` not a
                non-empty collection of non-empty strings, `limit` not an int
                >= 1, or `lease` not a positive number; nothing is claimed.
        """

    @abc.abstractmethod
    def renew_tasks(self, worker: str, claims: Sequence[tuple[int, int]], lease: float,
                    details: dict[int, bytes] | None = None) -> dict[int, str]:
        """Extend `worker`'s claims, given as (task id, token), to `lease` seconds from now.

        A claim is extended when it is still `worker`'s under that token and
        its lease has not lapsed (a lapsed one is not revived, even if nobody
        noticed yet). `details[task_id]`, given for an extended claim, is
        stored as the task's heartbeat details and bumps its `beats`.

        Returns:
            Per task id of `claims`: `"ok"`; `"cancel"` when its owner asked it
            to stop (it stays claimed until finished); `"lost"` when the token
            is stale, the lease lapsed, the claim was released, or the task
            is gone: the worker must drop it, its finish will be refused.

        Raises:
            StoreError: malformed `worker`, `claims`, `lease` or `details`
                (details for a task not in `claims`, or not bytes); nothing
                is written.
        """

    @abc.abstractmethod
    def finish_task(self, task_id: int, token: int, outcome: bytes) -> bool:
        """Record a claim's outcome: the task becomes `finished`.

        Returns:
            True when recorded; False (nothing written) when the task is not
            claimed under `token` any more, its lease has lapsed, or it is gone.

        Raises:
            StoreError: `outcome` is not bytes, or the id or token not an int.
        """

    @abc.abstractmethod
    def cancel_task(self, task_id: int) -> None:
        """Ask a task to stop: a pending one becomes `cancelled`, a claimed one gets `cancel_requested`.

        Nothing happens to a task that is finished, lost, cancelled or gone.

        Raises:
            StoreError: `task_id` is not an int.
        """

    @abc.abstractmethod
    def read_tasks(self, ids: Iterable[int]) -> list[Task]:
        """The tasks with these ids as they stand, by id; ids that do not exist are left out."""

    @abc.abstractmethod
    def unfinished_tasks(self, workflow_id: str) -> list[Task]:
        """A workflow's pending and claimed tasks, by id (which worker runs which attempt)."""

    @abc.abstractmethod
    def expire_task(self, task_id: int, token: int) -> bool:
        """Mark a claim whose lease has lapsed as `lost`, so that its late finish is refused.

        The owner calls this on seeing `lease_expired`, then retries the
        attempt as a worker death.

        Returns:
            True when the task was claimed under `token` with a lapsed lease,
            and is now `lost`; False otherwise (nothing changed).

        Raises:
            StoreError: `task_id` or `token` is not an int.
        """

    @abc.abstractmethod
    def release_tasks(self, worker: str) -> int:
        """Mark every claimed task of a worker found dead as `lost`, at once.

        Returns:
            How many were marked.

        Raises:
            StoreError: `worker` is not a non-empty string.
        """

    @abc.abstractmethod
    def delete_tasks(self, ids: Iterable[int]) -> int:
        """Delete these tasks, whatever their state (their owner consumed the outcome).

        Returns:
            How many existed.
        """

    @abc.abstractmethod
    def queue_stats(self) -> list[QueueStats]:
        """Per queue defined, claimed from (a queue workers serve), or holding tasks: its figures, by name."""

    def close(self) -> None:
        """Release connections; unusable afterwards. Closing twice is harmless."""
