"""The API for activity code.

An activity is an ordinary function (sync or `async def`) decorated with
`@activity.defn`. It runs outside the workflow's deterministic loop — on a
worker thread, or an asyncio loop thread for `async def` — so it may do I/O
and block. Activities are at-least-once: a crash mid-attempt runs the
attempt again, so make them idempotent where it matters.

Cancellation is cooperative first: once the engine no longer wants an
attempt (its workflow was cancelled, it lost a race, a `with_timeout` scope
or one of its own timeouts expired), `is_cancelled()` turns true and the
next `heartbeat()` raises `aion_actors.ActivityCancelled`; an `async def`
activity's task is also cancelled. An attempt with a process of its own
(the "local" runtime, `executor="process"`) that keeps running is killed
after the engine's `activity_cancel_grace`. A thread cannot be killed: a
sync activity on the in-process runtime that ignores cancellation runs to
its end, and what it returns is not recorded.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from .converter import encode_value
from .definitions import decorator, define_activity
from .errors import ActivityCancelled, AionError

__all__ = ["defn", "heartbeat", "is_cancelled", "info", "ActivityInfo"]


@dataclass(frozen=True, slots=True)
class ActivityInfo:
    activity_id: int
    activity_type: str
    attempt: int
    workflow_id: str
    heartbeat_details: Any = None


HEARTBEAT_THROTTLE = 1.0  # seconds between heartbeats an attempt sends (less with a short heartbeat_timeout)


def heartbeat_throttle(heartbeat_timeout: float | None) -> float:
    """Seconds between sent heartbeats: at most a quarter of `heartbeat_timeout`.

    So code that calls `heartbeat()` at least every half `heartbeat_timeout`
    always has one sent within the timeout, with a quarter left for delivery.
    """
    if heartbeat_timeout is None:
        return HEARTBEAT_THROTTLE
    return min(HEARTBEAT_THROTTLE, heartbeat_timeout / 4)


class ActivityContext:
    """What a running attempt can reach: its info, its heartbeat sink and its cancel flag.

    Heartbeats are throttled (see `heartbeat_throttle`); the last unsent
    details travel with the attempt's outcome. `cancel()` may be called from
    any thread.
    """

    def __init__(self, info: ActivityInfo, on_heartbeat: Callable[[Any], None],
                 heartbeat_timeout: float | None = None) -> None:
        self.info = info
        self.cancelled = threading.Event()
        self.cancel_reason = ""
        self.unsent: Any = None
        self._on_heartbeat = on_heartbeat
        self._sent_at = float("-inf")
        self._throttle = heartbeat_throttle(heartbeat_timeout)
        self._lock = threading.Lock()
        self._on_cancel: list[Callable[[], None]] = []

    def heartbeat(self, details: Any) -> None:
        if self.cancelled.is_set():
            raise ActivityCancelled(self.cancel_reason)
        payload = encode_value(details)
        now = time.monotonic()
        if now - self._sent_at >= self._throttle:
            self._sent_at = now
            self.unsent = None
            self._on_heartbeat(payload)
        else:
            self.unsent = payload

    def cancel(self, reason: str = "") -> None:
        with self._lock:
            if self.cancelled.is_set():
                return
            self.cancel_reason = reason
            self.cancelled.set()
            hooks, self._on_cancel = self._on_cancel, []
        for hook in hooks:
            hook()

    def when_cancelled(self, hook: Callable[[], None]) -> None:
        """Call `hook` on cancellation (now, if it already happened)."""
        with self._lock:
            if not self.cancelled.is_set():
                self._on_cancel.append(hook)
                return
        hook()


async def run_cancellable(ctx: ActivityContext, coro: Any) -> Any:
    """Await an async activity in a task that `ctx.cancel()` cancels, from whatever thread calls it."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()

    def cancel_task() -> None:
        try:
            loop.call_soon_threadsafe(task.cancel, ctx.cancel_reason or "activity cancelled")
        except RuntimeError:
            pass  # the loop already closed: the attempt is over

    ctx.when_cancelled(cancel_task)
    return await coro


current: contextvars.ContextVar[ActivityContext | None] = contextvars.ContextVar("aion_activity", default=None)


def defn(fn: Callable[..., Any] | None = None, *, name: str | None = None, executor: str = "thread",
         task_queue: str | None = None):
    """Declare a function (sync or async) as an activity, named `name` or its function name.

    `executor="process"` runs a sync, module-level activity in a pool of worker
    processes on the in-process runtime (for CPU-bound code that would hold the
    GIL); its heartbeats and its cancellation travel over a pipe to its worker.
    On the "local" runtime every attempt has its own process anyway. In
    either case an attempt that ignores cancellation is killed after the
    engine's `activity_cancel_grace`.

    `task_queue="gpu"` runs its attempts on whichever engine serves that queue
    (`Engine(task_queues=["gpu"])`, `aion worker --task-queue gpu`), not in the
    process that owns the workflow; `workflow.execute_activity(task_queue=...)`
    overrides it per call. Raises `InvalidArgument` for a bad queue name.
    """
    return decorator(define_activity, fn, name, executor=executor, task_queue=task_queue)


def _context() -> ActivityContext:
    ctx = current.get()
    if ctx is None:
        raise AionError("this aion_actors.activity function can only be called from a running activity")
    return ctx


def info() -> ActivityInfo:
    """Ids, type and 1-based attempt number of the running attempt."""
    return _context().info


def heartbeat(details: Any = None) -> None:
    """Report progress and liveness; raise `ActivityCancelled` if the attempt was cancelled.

    The last details are recorded (throttled: not every call is sent) and
    given to the next attempt as `info().heartbeat_details`. Calls also keep
    a `heartbeat_timeout` from failing the attempt: make one at least every
    half `heartbeat_timeout`.
    """
    _context().heartbeat(details)


def is_cancelled() -> bool:
    """True once the engine no longer wants this attempt's result (see the module doc)."""
    return _context().cancelled.is_set()
