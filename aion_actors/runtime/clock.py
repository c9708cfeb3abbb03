"""The engine's clock: what "now" is for recorded times, timer due checks and retry backoff.

Production engines use `SYSTEM_CLOCK` (wall time, no indirection beyond a
method call). Tests use a `SkippingClock`: wall time plus a virtual offset
that only grows, so a workflow that sleeps for a month can finish in
milliseconds while every recorded time, `workflow.now()` and timer fire
time stays consistent with the virtual clock.

The clock does not decide when to jump: the in-process driver does, when
the engine is quiescent (see `runtime/driver.py`). A `SkippingClock` only
says how far the driver may go: anywhere while a client waits on a result
(`waiting_for_result`), or up to the target of an `advance_engine` call.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import threading
import time as _time
from contextlib import contextmanager, nullcontext
from datetime import datetime, timezone
from typing import Callable, ContextManager, Iterator


class SystemClock:
    """Wall time."""

    skips = False
    time = staticmethod(_time.time)
    now = staticmethod(functools.partial(datetime.now, timezone.utc))

    @staticmethod
    def waiting_for_result() -> ContextManager[None]:
        return nullcontext()


SYSTEM_CLOCK = SystemClock()


class SkippingClock:
    """Wall time plus a virtual offset that the engine's driver may grow; never goes backwards.

    Args:
        auto_skip: jump to the next timer while a `WorkflowHandle.result()`
            waits and the engine has nothing else to do. When False, virtual
            time moves only with wall time and `advance_engine`.
    """

    skips = True

    def __init__(self, *, auto_skip: bool = True) -> None:
        self.auto_skip = auto_skip
        self._lock = threading.Lock()
        self._offset = 0.0
        self._last = 0.0
        self._waiting = 0
        self._targets: list[tuple[float, int, threading.Event]] = []
        self._order = itertools.count()
        self.wake: Callable[[], None] = lambda: None  # set by the driver: interrupts its wait

    def time(self) -> float:
        with self._lock:
            # max(): wall time itself may step back (NTP); the virtual clock does not.
            self._last = max(self._last, _time.time() + self._offset)
            return self._last

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.time(), timezone.utc)

    def skip_to(self, timestamp: float) -> None:
        """Jump forward to `timestamp`; a timestamp already passed changes nothing."""
        with self._lock:
            self._offset = max(self._offset, timestamp - _time.time())

    def advance(self, seconds: float) -> None:
        """Jump forward by `seconds` at once (timers that fall due fire late, all at the new time)."""
        self.skip_to(self.time() + max(0.0, seconds))

    # -- how far the driver may jump -------------------------------------------

    @contextmanager
    def waiting_for_result(self) -> Iterator[None]:
        """While inside, the driver may skip to any timer (if `auto_skip`)."""
        with self._lock:
            self._waiting += 1
        try:
            yield
        finally:
            with self._lock:
                self._waiting -= 1

    def advance_engine(self, seconds: float, timeout: float | None = None) -> bool:
        """Let the engine live through `seconds` of virtual time, firing each timer at its due time.

        Returns once the clock reached the target and the engine was quiescent
        there (nothing due, no activity attempt running), or False when
        `timeout` wall seconds passed first (an activity still running).
        """
        done = threading.Event()
        with self._lock:
            target = max(self._last, _time.time() + self._offset) + max(0.0, seconds)
            heapq.heappush(self._targets, (target, next(self._order), done))
        self.wake()
        if done.wait(timeout):
            return True
        with self._lock:  # gave up: the driver must not jump to it later on its behalf
            self._targets = [t for t in self._targets if t[2] is not done]
            heapq.heapify(self._targets)
        return done.is_set()

    def jump(self, deadline: float | None) -> float | None:
        """Where the driver should jump, the engine being quiescent and the next timer due at `deadline`.

        The earlier of that timer and the earliest `advance_engine` target; None
        when neither a result is awaited (with `auto_skip`) nor a target is pending.
        """
        with self._lock:
            target = self._targets[0][0] if self._targets else None
            if target is None and not (self._waiting and self.auto_skip):
                return None
        if deadline is None or target is None:
            return deadline if target is None else target
        return min(deadline, target)

    def release(self, now: float) -> None:
        """The engine is quiescent at `now`, with nothing due: end the `advance_engine` calls it reached."""
        with self._lock:
            while self._targets and self._targets[0][0] <= now:
                heapq.heappop(self._targets)[2].set()
