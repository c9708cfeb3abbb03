"""The driver: the one thread that runs the in-process actor system.

Thespian's simpleSystemBase runs actors only inside the calling thread's
`tell`/`ask`/`listen`, and an `ActorSystem` shared by threads mixes up
replies (FACTS.md). So one thread drives: clients and activity workers put
requests in a thread-safe inbox; the driver takes everything queued, hands
it to the engine actor as one `Batch` (so appends of many workflows meet in
one group commit), runs the actors until they are idle, and resolves the
clients' futures from the replies. It sleeps until the next request or the
earliest timer deadline, or, with a `SkippingClock`, jumps the clock to that
deadline when nothing else is pending (see `_skip_time`).
"""

from __future__ import annotations

import concurrent.futures
import itertools
import logging
import queue
import threading
import time
from typing import Any, Callable

from thespian.actors import ActorSystem

from .context import ContextRef, RuntimeContext
from .engine_actor import EngineActor
from .messages import Batch, ClientReply, Flush, Housekeeping, InitEngine, InitWriter, TimersDue
from .system import open_actor_system
from .writer import Backlog, StoreWriter

log = logging.getLogger("aion_actors.driver")

_STOP = object()
_WAKE = object()   # only interrupts the driver's wait (the skipping clock has a new goal)
_IDLE_WAIT = 1.0
_MP_POLL = 0.002   # multi-process: how long each side (inbox, replies) is waited on while answers are due
_MP_IDLE = 0.05
_MP_TICK = 0.05    # multi-process: timer and housekeeping tick


class Driver:
    def __init__(self, context: RuntimeContext, engine_id: str) -> None:
        self.context = context
        self.engine_id = engine_id
        self.runtime = context.config.runtime
        self._backlog = Backlog() if context.driver_flushes else None
        self.inbox: queue.SimpleQueue = queue.SimpleQueue()
        self._futures: dict[int, concurrent.futures.Future] = {}
        self._corr = itertools.count(1)
        self._thread = threading.Thread(target=self._run, name="aion-engine", daemon=True)
        self._ready = threading.Event()
        self._failure: BaseException | None = None

    # -- from any thread -----------------------------------------------------

    def start(self) -> None:
        self._thread.start()
        self._ready.wait()
        if self._failure is not None:
            raise self._failure

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def request(self, make: Callable[[int], Any]) -> concurrent.futures.Future:
        """Send `make(corr)` to the engine actor; the future gets its reply."""
        future: concurrent.futures.Future = concurrent.futures.Future()
        if not self._thread.is_alive():
            future.set_exception(RuntimeError("the engine is stopped; open a new Engine"))
            return future
        self.inbox.put((make, future))
        return future

    def tell(self, address: Any, message: Any) -> None:
        """Deliver a message to an actor (activity outcomes, heartbeats)."""
        self.inbox.put((address, message))

    def stop(self) -> None:
        if self._thread.is_alive():
            self.inbox.put(_STOP)
            self._thread.join(timeout=30)

    # -- the driver thread -----------------------------------------------------

    def _run(self) -> None:
        handle = None
        try:
            handle = open_actor_system(self.runtime)
            system = handle.system
            writer = system.createActor(StoreWriter)
            local = self.context if self.runtime == "inprocess" else None
            ref = ContextRef(self.engine_id, writer, local)
            system.tell(writer, InitWriter(ref, self._backlog))
            self.engine = system.createActor(EngineActor)
            system.tell(self.engine, InitEngine(ref))
            self.system_handle = handle
        except BaseException as exc:  # noqa: BLE001 - reported to the thread that started us
            self._failure = exc
            self._ready.set()
            if handle is not None:
                handle.shutdown()
            return
        self._ready.set()
        try:
            if self.runtime == "inprocess":
                self._serve(system)
            else:
                self._serve_multiprocess(system)
        finally:
            handle.shutdown()
            for future in self._futures.values():
                if not future.done():
                    future.set_exception(RuntimeError("the engine stopped before answering"))

    def _take(self, items: list) -> tuple[list, bool]:
        """Turn inbox items into a batch for the engine actor; register the futures."""
        batch = []
        stopping = False
        for item in items:
            if item is _STOP:
                stopping = True
                continue
            if item is _WAKE:
                continue
            first, second = item
            if callable(first):
                corr = next(self._corr)
                self._futures[corr] = second
                batch.append((None, first(corr)))
            else:
                batch.append(item)
        return batch, stopping

    def _serve_multiprocess(self, system: ActorSystem) -> None:
        """Actors run in their own processes: poll the inbox and the replies in turn.

        Timers and housekeeping run in the engine actor's process, on a tick.
        """
        next_tick = time.monotonic()
        while True:
            items = []
            try:
                items.append(self.inbox.get(timeout=_MP_POLL if self._futures else _MP_IDLE))
                while True:
                    items.append(self.inbox.get_nowait())
            except queue.Empty:
                pass
            batch, stopping = self._take(items)
            if time.monotonic() >= next_tick:
                next_tick = time.monotonic() + _MP_TICK
                batch += [(None, TimersDue()), (None, Housekeeping())]
            if batch:
                system.tell(self.engine, Batch(tuple(batch)))
            if stopping:
                return
            while (reply := system.listen(_MP_POLL if self._futures else 0)) is not None:
                self._dispatch(reply)

    def _serve(self, system: ActorSystem) -> None:
        wheel = self.context.wheel
        clock = self.context.clock
        if clock.skips:
            clock.wake = lambda: self.inbox.put(_WAKE)
        every = max(0.05, min(_IDLE_WAIT, self.context.config.idle_timeout / 2))
        housekeeping_due = time.monotonic() + every
        while True:
            deadline = wheel.next_deadline()
            wait = min(every, housekeeping_due - time.monotonic())
            if deadline is not None:
                wait = min(wait, deadline - clock.time())
            if clock.skips and self._skip_time(deadline):
                wait = 0.0
            wait = max(0.0, wait)
            items = []
            try:
                items.append(self.inbox.get(timeout=wait))
                while True:
                    items.append(self.inbox.get_nowait())
            except queue.Empty:
                pass
            batch, stopping = self._take(items)
            deadline = wheel.next_deadline()
            if deadline is not None and deadline <= clock.time():
                batch.append((None, TimersDue()))
            if time.monotonic() >= housekeeping_due:
                housekeeping_due = time.monotonic() + every
                batch.append((None, Housekeeping()))
            if batch:
                system.tell(self.engine, Batch(tuple(batch)))
                while self._backlog.pending:
                    system.tell(self.context.writer, Flush())
                self._collect(system)
            if stopping:
                return

    def _skip_time(self, deadline: float | None) -> bool:
        """Jump the skipping clock to the next timer (or `advance_engine` target) if the engine is quiescent.

        Quiescent: no request waiting in the inbox, no activity attempt running
        (here or on a task queue's worker: its outcome could start or cancel timers, so jumping past a timeout
        while it runs would fire the timeout early), nothing left to commit.
        Returns True when the clock moved, so the loop goes round without waiting.
        """
        if not self.inbox.empty() or self.context.activities.busy() or self._backlog.pending:
            return False
        watcher = self.context.task_watcher
        if watcher is not None and watcher.outstanding():  # an attempt running on another engine counts too
            return False
        clock = self.context.clock
        now = clock.time()
        if deadline is not None and deadline <= now:
            return False  # due already: it fires in this pass, before anyone hears the time was reached
        clock.release(now)
        to = clock.jump(deadline)
        if to is None:
            return False
        clock.skip_to(to)
        return True

    def _collect(self, system: ActorSystem) -> None:
        while (reply := system.listen(0)) is not None:
            self._dispatch(reply)

    def _dispatch(self, reply: Any) -> None:
        if isinstance(reply, ClientReply):
            future = self._futures.pop(reply.corr, None)
            if future is None:
                return
            if reply.ok:
                future.set_result(reply.value)
            else:
                future.set_exception(reply.value)
