"""The checks every bundled store applies, in one place (private: not part of the contract).

A store of your own may validate however it likes; the conformance suites say
what must be refused.
"""

from __future__ import annotations

import json
import zlib
from datetime import datetime
from typing import Iterable

from .base import Append, StoredEvent
from .errors import StoreError
from .leases import shard_of
from .tasks import NewTask, QueueLimits


def check_append(append: Append) -> None:
    """The validation every store applies before writing (one validator, one place)."""
    if append.expected_seq < 0:
        raise StoreError(f"expected_seq must be >= 0, got {append.expected_seq}")
    if not append.events:
        raise StoreError(f"append to workflow {append.workflow_id!r} has no events")
    for offset, event in enumerate(append.events, start=1):
        if event.workflow_id != append.workflow_id:
            raise StoreError(
                f"event seq {event.seq} belongs to workflow {event.workflow_id!r}, "
                f"not {append.workflow_id!r}"
            )
        if event.seq != append.expected_seq + offset:
            raise StoreError(
                f"non-contiguous append to workflow {append.workflow_id!r}: event {offset} has seq "
                f"{event.seq}, expected {append.expected_seq + offset}"
            )
        if event.recorded_at.tzinfo is None:
            raise StoreError(f"event seq {event.seq} of {append.workflow_id!r} has a naive recorded_at")
    if append.expected_seq == 0 and append.state is None:
        raise StoreError(f"creating workflow {append.workflow_id!r} needs a WorkflowState")
    for timer in append.schedule_timers:
        if timer.workflow_id != append.workflow_id:
            raise StoreError(f"timer {timer.timer_id!r} belongs to {timer.workflow_id!r}, not {append.workflow_id!r}")
        if timer.fire_at.tzinfo is None:
            raise StoreError(f"timer {timer.timer_id!r} has a naive fire_at")


def checksum(data: bytes) -> int:
    """CRC32 kept beside each event so a damaged row is caught on read."""
    return zlib.crc32(data)


def verify(event: StoredEvent, stored_checksum: int | None) -> StoredEvent:
    if stored_checksum is None or not isinstance(event.data, (bytes, bytearray)) or checksum(bytes(event.data)) != stored_checksum:
        raise StoreError(
            f"event seq {event.seq} of workflow {event.workflow_id!r} is corrupted "
            f"(checksum mismatch); restore the store from a backup"
        )
    return event


def check_request(kind: object, workflow_id: object, body: object) -> None:
    if not isinstance(kind, str) or not kind:
        raise StoreError(f"a request kind must be a non-empty string, got {kind!r}")
    if workflow_id is not None and not isinstance(workflow_id, str):
        raise StoreError(f"a request's workflow id must be a string or None, got {workflow_id!r}")
    if not isinstance(body, (bytes, bytearray)):
        raise StoreError(f"a request body must be bytes, got {type(body).__name__}")


def check_claimer(claimer: object) -> None:
    if not isinstance(claimer, str) or not claimer:
        raise StoreError(f"a claimer must be a non-empty string, got {claimer!r}")


def check_claim(claimer: object, limit: object) -> None:
    check_claimer(claimer)
    if type(limit) is not int or limit < 1:
        raise StoreError(f"a claim limit must be an int >= 1, got {limit!r}")


def check_claim_shards(shards: object, count: int) -> list[int] | None:
    """`claim_requests`' `shards` as sorted distinct ints, or `None` for "any shard"."""
    if shards is None:
        return None
    if isinstance(shards, (str, bytes)) or not isinstance(shards, Iterable):
        raise StoreError(f"claim_requests' shards must be None or a collection of ints in [0, {count}), "
                         f"got {shards!r}")
    wanted = set(shards)
    for shard in wanted:
        if type(shard) is not int or not 0 <= shard < count:
            raise StoreError(f"claim_requests' shards must be ints in [0, {count}) (the store's shard count); "
                             f"got {shard!r} in {shards!r}")
    return sorted(wanted)


def check_cutoff(created_before: object) -> None:
    if not isinstance(created_before, datetime) or created_before.tzinfo is None:
        raise StoreError(f"prune_requests needs a timezone-aware datetime, got {created_before!r}")


def check_fences(appends: Iterable[Append], shards: int) -> None:
    """A fence must name the workflow's own shard: anything else is a caller's bug, refused whole."""
    for append in appends:
        if append.fence is None:
            continue
        shard, token = append.fence
        if type(shard) is not int or type(token) is not int or shard != shard_of(append.workflow_id, shards):
            raise StoreError(f"append to workflow {append.workflow_id!r} has fence {append.fence!r}; a fence is "
                             f"(shard_of(workflow_id, {shards}) = {shard_of(append.workflow_id, shards)}, token)")


def check_node(node_id: object) -> None:
    if not isinstance(node_id, str) or not node_id:
        raise StoreError(f"a node id must be a non-empty string, got {node_id!r}")


def check_ttl(ttl: object) -> None:
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not ttl > 0:
        raise StoreError(f"a lease ttl must be a positive number of seconds, got {ttl!r}")


def check_shard(shard: object, shards: int) -> None:
    if type(shard) is not int or not 0 <= shard < shards:
        raise StoreError(f"shard must be an int in [0, {shards}), got {shard!r}")


def encode_info(info: object) -> str:
    """A node's `info` as the JSON text stores keep."""
    try:
        if not isinstance(info, dict):
            raise TypeError(f"got {type(info).__name__}")
        return json.dumps(info, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise StoreError(f"a node's info must be a dict JSON can encode ({exc})") from exc


def check_shard_count(shards: object) -> None:
    if type(shards) is not int or shards < 1:
        raise StoreError(f"shards must be an int >= 1, got {shards!r}")


def check_name(what: str, value: object) -> None:
    if not isinstance(value, str) or not value:
        raise StoreError(f"{what} must be a non-empty string, got {value!r}")


def _count_or_none(what: str, value: object) -> None:
    if value is not None and (type(value) is not int or value < 1):
        raise StoreError(f"a queue's {what} must be None or an int >= 1, got {value!r}")


def check_limits(name: object, limits: object) -> None:
    check_name("a queue name", name)
    if not isinstance(limits, QueueLimits):
        raise StoreError(f"a queue's limits must be a QueueLimits, got {type(limits).__name__}")
    _count_or_none("concurrency", limits.concurrency)
    _count_or_none("rate_limit", limits.rate_limit)
    period = limits.rate_period
    if isinstance(period, bool) or not isinstance(period, (int, float)) or not period > 0:
        raise StoreError(f"a queue's rate_period must be a positive number of seconds, got {period!r}")
    if type(limits.partitioned) is not bool:
        raise StoreError(f"a queue's partitioned must be a bool, got {limits.partitioned!r}")


def check_new_task(task: object) -> None:
    if not isinstance(task, NewTask):
        raise StoreError(f"put_task takes a NewTask, got {type(task).__name__}")
    for field in ("queue", "workflow_id", "run_id", "activity_id", "activity_type"):
        check_name(f"a task's {field}", getattr(task, field))
    if type(task.attempt) is not int or task.attempt < 1:
        raise StoreError(f"a task's attempt must be an int >= 1, got {task.attempt!r}")
    if type(task.priority) is not int:
        raise StoreError(f"a task's priority must be an int, got {task.priority!r}")
    if not isinstance(task.body, (bytes, bytearray)):
        raise StoreError(f"a task's body must be bytes, got {type(task.body).__name__}")
    if task.partition_key is not None:
        check_name("a task's partition_key (when given)", task.partition_key)


def check_lease(lease: object) -> None:
    if isinstance(lease, bool) or not isinstance(lease, (int, float)) or not lease > 0:
        raise StoreError(f"a task lease must be a positive number of seconds, got {lease!r}")


def check_task_claim(worker: object, queues: object, limit: object, lease: object) -> list[str]:
    """`claim_tasks`' arguments checked; its queues as sorted distinct names (the order claimers lock them in)."""
    check_claim(worker, limit)
    check_lease(lease)
    if isinstance(queues, (str, bytes)) or not isinstance(queues, Iterable):
        raise StoreError(f"claim_tasks' queues must be a collection of queue names, got {queues!r}")
    names = set(queues)
    if not names:
        raise StoreError("claim_tasks needs at least one queue")
    for name in names:
        check_name("a queue name", name)
    return sorted(names)


def check_ints(what: str, values: object) -> list[int]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise StoreError(f"{what} must be a collection of ints, got {values!r}")
    found = list(values)
    for value in found:
        if type(value) is not int:
            raise StoreError(f"{what} must be ints, got {value!r}")
    return found


def check_renewal(worker: object, claims: object, lease: object, details: object) -> dict[int, int]:
    """`renew_tasks`' arguments checked; its claims as task id -> token."""
    check_claimer(worker)
    check_lease(lease)
    if isinstance(claims, (str, bytes)) or not isinstance(claims, Iterable):
        raise StoreError(f"renew_tasks' claims must be (task id, token) pairs, got {claims!r}")
    tokens: dict[int, int] = {}
    for claim in claims:
        if (not isinstance(claim, tuple) or len(claim) != 2 or type(claim[0]) is not int
                or type(claim[1]) is not int):
            raise StoreError(f"renew_tasks' claims must be (task id, token) pairs of ints, got {claim!r}")
        tokens[claim[0]] = claim[1]
    if details is not None:
        if not isinstance(details, dict):
            raise StoreError(f"renew_tasks' details must be a dict of task id -> bytes, got {details!r}")
        for task_id, data in details.items():
            if task_id not in tokens:
                raise StoreError(f"renew_tasks got details for task {task_id!r}, which is not among its claims")
            if not isinstance(data, (bytes, bytearray)):
                raise StoreError(f"heartbeat details must be bytes, got {type(data).__name__} for task {task_id}")
    return tokens


def check_finish(task_id: object, token: object, outcome: object) -> None:
    if type(task_id) is not int or type(token) is not int:
        raise StoreError(f"finish_task takes an int task id and token, got {task_id!r}, {token!r}")
    if not isinstance(outcome, (bytes, bytearray)):
        raise StoreError(f"a task's outcome must be bytes, got {type(outcome).__name__}")
