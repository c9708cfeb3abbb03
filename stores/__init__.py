"""Event stores: the contracts, an in-memory reference, and SQLAlchemy (SQLite, PostgreSQL).

For a store user: `open_store(url)`, the records, the errors. For a store
implementer: the two contracts (`EventStore`, `RequestInbox`) and their
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
from .errors import SequenceConflict, StoreError
from .inbox import Request, RequestInbox
from .memory import InMemoryStore
from .url import open_store

__all__ = [
    "Append",
    "EventStore",
    "EventStoreConformance",
    "InMemoryStore",
    "Request",
    "RequestInbox",
    "RequestInboxConformance",
    "RunSummary",
    "SequenceConflict",
    "StoreError",
    "StoredEvent",
    "TimerRow",
    "WorkflowFilter",
    "WorkflowState",
    "WorkflowSummary",
    "open_store",
]

_CONFORMANCE = {"EventStoreConformance": "conformance", "RequestInboxConformance": "conformance_requests"}


def __getattr__(name: str) -> Any:
    if name in _CONFORMANCE:
        from importlib import import_module

        return getattr(import_module(f".{_CONFORMANCE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
