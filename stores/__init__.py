"""Event stores: the contract, an in-memory reference, and SQLAlchemy (SQLite, PostgreSQL)."""

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
from .memory import InMemoryStore
from .url import open_store

__all__ = [
    "Append",
    "EventStore",
    "InMemoryStore",
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
