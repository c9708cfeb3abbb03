"""What a task's opaque bytes mean between an owner and its workers: msgpack, never pickle.

`body`: what the worker needs to run the attempt as a `RunAttempt` (input, the last
heartbeat details, heartbeat_timeout, and what `activity.info()` shows).
`details`: one encoded heartbeat `Payload`. `outcome`: an `AttemptDone`'s result or
`Failure`, its last unsent heartbeat, and whether the attempt's process died.
"""

from __future__ import annotations

from typing import Any

import msgpack

from stores.tasks import NewTask, Task

from ..errors import Failure
from ..payload import Payload
from .messages import AttemptDone, RunAttempt

_VERSION = 1


def _payload(p: Payload | None) -> list | None:
    return None if p is None else [p.content_type, p.data]


def _unpayload(raw: list | None) -> Payload | None:
    return None if raw is None else Payload(raw[0], raw[1])


def _pack(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True)


def _unpack(data: bytes) -> Any:
    return msgpack.unpackb(data, raw=False)


def new_task(attempt: RunAttempt, run_id: str, queue: str, priority: int, partition_key: str | None) -> NewTask:
    body = _pack({"v": _VERSION, "input": _payload(attempt.input),
                  "heartbeat_details": _payload(attempt.heartbeat_details),
                  "heartbeat_timeout": attempt.heartbeat_timeout})
    return NewTask(queue, attempt.workflow_id, run_id, str(attempt.activity_id), attempt.attempt,
                   attempt.activity_type, body, priority, partition_key)


def run_attempt(task: Task) -> RunAttempt:
    body = _unpack(task.body)
    return RunAttempt(None, task.workflow_id, int(task.activity_id), task.activity_type,
                      _unpayload(body["input"]), task.attempt, _unpayload(body["heartbeat_details"]),
                      body["heartbeat_timeout"])


def encode_details(details: Payload) -> bytes:
    return _pack(_payload(details))


def decode_details(data: bytes) -> Payload:
    return _unpayload(_unpack(data))


def encode_outcome(done: AttemptDone) -> bytes:
    failure = None
    if done.failure is not None:
        f: Failure = done.failure
        failure = [f.type, f.message, f.traceback, f.non_retryable, [_payload(p) for p in f.details]]
    return _pack({"v": _VERSION, "result": _payload(done.result), "failure": failure,
                  "heartbeat": _payload(done.heartbeat), "worker_died": done.worker_died})


def decode_outcome(task: Task) -> AttemptDone:
    raw = _unpack(task.outcome)
    failure = None
    if raw["failure"] is not None:
        type_, message, trace, non_retryable, details = raw["failure"]
        failure = Failure(type_, message, trace, non_retryable, tuple(_unpayload(p) for p in details))
    return AttemptDone(int(task.activity_id), task.attempt, result=_unpayload(raw["result"]), failure=failure,
                       heartbeat=_unpayload(raw["heartbeat"]), worker_died=raw["worker_died"])
