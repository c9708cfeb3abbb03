"""What every actor of an in-process engine shares: the store, the definitions, the timer heap.

On the in-process runtime actors receive this object by reference in their
init message; store errors are translated to `aion_actors` errors here.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterator

from stores.base import EventStore, TimerRow, WorkflowSummary
from stores.errors import StoreError as _StoreLayerError

from .. import events as ev
from ..definitions import Registry
from ..errors import translate_store_error
from ..ids import new_run_id
from .activities import ActivityRunner
from .timers import TimerWheel

_FAR_FUTURE = datetime(9999, 1, 1, tzinfo=timezone.utc)


@contextmanager
def store_errors() -> Iterator[None]:
    try:
        yield
    except _StoreLayerError as exc:
        raise translate_store_error(exc) from exc


@dataclass(eq=False)
class RuntimeContext:
    store: EventStore
    registry: Registry
    activities: ActivityRunner
    wheel: TimerWheel = field(default_factory=TimerWheel)
    writer: Any = None
    idle_timeout: float = 60.0    # seconds a waiting run stays resident without traffic
    max_resident: int = 10_000    # resident runs before the least recently used are passivated

    @staticmethod
    def new_run_id() -> str:
        return new_run_id()

    def read_history(self, workflow_id: str) -> list[ev.HistoryEvent]:
        with store_errors():
            return [ev.from_stored(s) for s in self.store.read_history(workflow_id)]

    def store_summary(self, workflow_id: str) -> WorkflowSummary | None:
        with store_errors():
            return self.store.get_summary(workflow_id)

    def list_active(self) -> list[WorkflowSummary]:
        with store_errors():
            return self.store.list_active()

    def all_timers(self) -> list[TimerRow]:
        with store_errors():
            return self.store.expired_timers(_FAR_FUTURE)
