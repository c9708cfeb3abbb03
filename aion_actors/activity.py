"""The API for activity code.

An activity is an ordinary function (sync or `async def`) decorated with
`@activity.defn`. It runs outside the workflow's deterministic loop — on a
worker thread, or an asyncio loop thread for `async def` — so it may do I/O
and block. Activities are at-least-once: a crash mid-attempt runs the
attempt again, so make them idempotent where it matters.
"""

from __future__ import annotations

import contextvars
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from .converter import encode_value
from .definitions import decorator, define_activity
from .errors import AionError

__all__ = ["defn", "heartbeat", "is_cancelled", "info", "ActivityInfo"]


@dataclass(frozen=True, slots=True)
class ActivityInfo:
    activity_id: int
    activity_type: str
    attempt: int
    workflow_id: str
    heartbeat_details: Any = None


HEARTBEAT_THROTTLE = 1.0  # seconds between recorded heartbeats of one attempt


class ActivityContext:
    """What a running attempt can reach: its info, its heartbeat sink and its cancel flag.

    Heartbeats are throttled: at most one is sent per `HEARTBEAT_THROTTLE`
    seconds; the last unsent details travel with the attempt's outcome.
    """

    def __init__(self, info: ActivityInfo, on_heartbeat: Callable[[Any], None]) -> None:
        self.info = info
        self.cancelled = threading.Event()
        self.unsent: Any = None
        self._on_heartbeat = on_heartbeat
        self._sent_at = float("-inf")

    def heartbeat(self, details: Any) -> None:
        payload = encode_value(details)
        now = time.monotonic()
        if now - self._sent_at >= HEARTBEAT_THROTTLE:
            self._sent_at = now
            self.unsent = None
            self._on_heartbeat(payload)
        else:
            self.unsent = payload


current: contextvars.ContextVar[ActivityContext | None] = contextvars.ContextVar("aion_activity", default=None)


def defn(fn: Callable[..., Any] | None = None, *, name: str | None = None, executor: str = "thread"):
    """Declare a function (sync or async) as an activity, named `name` or its function name.

    `executor="process"` runs a sync, module-level activity in a pool of worker
    processes on the in-process runtime (for CPU-bound code that would hold the
    GIL); its heartbeats are not recorded and it cannot observe cancellation.
    On the "local" runtime every attempt has its own process anyway.
    """
    return decorator(define_activity, fn, name, executor=executor)


def _context() -> ActivityContext:
    ctx = current.get()
    if ctx is None:
        raise AionError("this aion_actors.activity function can only be called from a running activity")
    return ctx


def info() -> ActivityInfo:
    """Ids, type and 1-based attempt number of the running attempt."""
    return _context().info


def heartbeat(details: Any = None) -> None:
    """Report progress. The last details are recorded and given to the next attempt."""
    _context().heartbeat(details)


def is_cancelled() -> bool:
    """True once the workflow no longer wants this attempt's result."""
    return _context().cancelled.is_set()
