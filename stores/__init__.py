"""Event stores: the contracts, an in-memory reference, and SQLAlchemy (SQLite, PostgreSQL).

For a store user: `open_store(url)`, the records, the errors. For a store
implementer: the four contracts (`EventStore`, `RequestInbox`, `ShardLeases`, `TaskQueues`) and their
conformance suites, abstract pytest cases to subclass (imported on first
use, so that importing `stores` does not import pytest).
"""

from __future__ import annotations

from typing import Any

from .base import (
    Append,
    EventStore,
    RunSummary,
    StoredEvent,
    TimerRow,
    WorkflowFilter,
    WorkflowState,
    WorkflowSummary,
)
from .errors import SequenceConflict, StaleFence, StoreError
from .inbox import Request, RequestInbox
from .leases import DEFAULT_SHARDS, LeaseRow, NodeRow, ShardLeases, shard_of
from .memory import InMemoryStore
from .tasks import NewTask, QueueLimits, QueueStats, Task, TaskQueues
from .url import open_store

__all__ = [
    "Append",
    "DEFAULT_SHARDS",
    "EventStore",
    "EventStoreConformance",
    "InMemoryStore",
    "LeaseRow",
    "NewTask",
    "NodeRow",
    "QueueLimits",
    "QueueStats",
    "Request",
    "RequestInbox",
    "RequestInboxConformance",
    "RunSummary",
    "SequenceConflict",
    "ShardLeases",
    "ShardLeasesConformance",
    "StaleFence",
    "StoreError",
    "StoredEvent",
    "Task",
    "TaskQueues",
    "TaskQueuesConformance",
    "TimerRow",
    "WorkflowFilter",
    "WorkflowState",
    "WorkflowSummary",
    "open_store",
    "shard_of",
]

_CONFORMANCE = {"EventStoreConformance": "conformance", "RequestInboxConformance": "conformance_requests",
                "ShardLeasesConformance": "conformance_leases", "TaskQueuesConformance": "conformance_tasks"}


def __getattr__(name: str) -> Any:
    if name in _CONFORMANCE:
        from importlib import import_module

        return getattr(import_module(f".{_CONFORMANCE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
