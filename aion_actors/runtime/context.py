"""What the actors of one engine share: the store, the definitions, the timer heap, the clock.

Actors reach it through a `ContextRef` carried in their init messages. On
the in-process runtime the ref holds the engine's own `RuntimeContext`. On
the multi-process runtime a ref crosses processes as the engine's id, and
each actor process builds its own context (its own store connection, its
own activity runner) from the engine's `Blueprint`, which every actor
process inherits because it is forked after the engine registered it.
Store errors are translated to `aion_actors` errors here.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator

from stores.base import EventStore, TimerRow, WorkflowSummary
from stores.errors import StoreError as _StoreLayerError
from stores.url import open_store

from .. import events as ev
from ..config import EngineConfig
from ..definitions import Registry
from ..errors import translate_store_error
from ..ids import new_run_id
from ..cluster.ownership import Ownership
from .activities import ActivityRunner, InlineActivityRunner
from .clock import SYSTEM_CLOCK, SkippingClock, SystemClock
from .timers import TimerWheel


@contextmanager
def store_errors() -> Iterator[None]:
    try:
        yield
    except _StoreLayerError as exc:
        raise translate_store_error(exc) from exc


@dataclass(frozen=True)
class Blueprint:
    """How an actor process of an engine rebuilds that engine's context."""

    config: EngineConfig
    registry: Registry
    ownership: Ownership  # as it stood when the actor processes forked: "local" never rebalances


# Per engine id; written by the engine process before it forks any actor process.
_BLUEPRINTS: dict[str, Blueprint] = {}
_PROCESS_CONTEXTS: dict[tuple[int, str], "RuntimeContext"] = {}


def register_blueprint(engine_id: str, blueprint: Blueprint) -> None:
    _BLUEPRINTS[engine_id] = blueprint


def forget_blueprint(engine_id: str) -> None:
    _BLUEPRINTS.pop(engine_id, None)


class ContextRef:
    """A picklable way to the engine's context from any of its actors."""

    __slots__ = ("engine_id", "writer", "_local")

    def __init__(self, engine_id: str, writer: Any, local: "RuntimeContext | None" = None) -> None:
        self.engine_id = engine_id
        self.writer = writer
        self._local = local

    def get(self) -> "RuntimeContext":
        if self._local is None:
            self._local = _context_for_this_process(self.engine_id)
        self._local.writer = self.writer
        return self._local

    def __getstate__(self):
        return (self.engine_id, self.writer)

    def __setstate__(self, state) -> None:
        self.engine_id, self.writer = state
        self._local = None


def _context_for_this_process(engine_id: str) -> "RuntimeContext":
    key = (os.getpid(), engine_id)
    if key not in _PROCESS_CONTEXTS:
        config, registry = _BLUEPRINTS[engine_id].config, _BLUEPRINTS[engine_id].registry
        with store_errors():
            store = open_store(config.store, durability=config.durability)
        _PROCESS_CONTEXTS[key] = RuntimeContext(store, registry, InlineActivityRunner(
            registry, config.activity_cancel_grace), config, _BLUEPRINTS[engine_id].ownership)
    return _PROCESS_CONTEXTS[key]


@dataclass(eq=False)
class RuntimeContext:
    store: EventStore
    registry: Registry
    activities: ActivityRunner
    config: EngineConfig
    ownership: Ownership
    wheel: TimerWheel = field(default_factory=TimerWheel)
    clock: SystemClock | SkippingClock = SYSTEM_CLOCK  # a SkippingClock only on the in-process runtime
    writer: Any = None
    resident_runs: int = 0  # as the engine actor last counted them (for the node's heartbeat)
    router: Any = None  # a `routing.Router` when other nodes may own workflows; only in the engine's process
    task_watcher: Any = None  # a `task_watcher.TaskWatcher` when the store has task queues (in process)

    @property
    def driver_flushes(self) -> bool:
        """In process, the driver flushes the writer when the actors go quiet, so one commit holds
        everything a cascade appended (a step's result and its next command); elsewhere the
        writer flushes itself."""
        return self.config.runtime == "inprocess"

    @staticmethod
    def new_run_id() -> str:
        return new_run_id()

    def read_history(self, workflow_id: str) -> list[ev.HistoryEvent]:
        with store_errors():
            return [ev.from_stored(s) for s in self.store.read_history(workflow_id)]

    def store_summary(self, workflow_id: str) -> WorkflowSummary | None:
        with store_errors():
            return self.store.get_summary(workflow_id)

    def list_active(self, shards: set[int] | None = None) -> list[WorkflowSummary]:
        """The running workflows of this node's shards (of `shards` among them, if given)."""
        with store_errors():
            active = self.store.list_active()
        return [s for s in active if self._ours(s.workflow_id, shards)]

    def all_timers(self, shards: set[int] | None = None) -> list[TimerRow]:
        with store_errors():
            timers = self.store.all_timers()
        return [t for t in timers if self._ours(t.workflow_id, shards)]

    def _ours(self, workflow_id: str, shards: set[int] | None) -> bool:
        if not self.ownership.owns(workflow_id):
            return False
        return shards is None or self.ownership.shard(workflow_id) in shards
