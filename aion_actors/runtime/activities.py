"""Where activity code runs: never on the thread that drives the actors.

In-process runtime (`ActivityRunner`): sync activities run on a thread pool,
`async def` activities on one asyncio loop in a thread of its own, and each
outcome is posted back to the driver as a message for the attempt's actor.
Multi-process runtime (`InlineActivityRunner`): the attempt's actor is an OS
process of its own, and runs the attempt on a second thread of it, so a
crash of the code kills only that process while the actor's own thread
stays in Thespian's loop: heartbeats go out as they are made, and a cancel
request reaches the code (and, past the grace, kills the process).
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import concurrent.futures.process
import dataclasses
import os
import threading
from typing import Any, Callable

from .. import converter
from ..activity import ActivityContext, ActivityInfo, current, run_cancellable
from ..definitions import Registry
from ..errors import Failure
from .messages import AttemptDone, Heartbeat, RunAttempt
from .process_pool import ProcessAttempts, serve_attempt


def attempt_key(attempt: RunAttempt) -> tuple:
    return (attempt.workflow_id, attempt.activity_id, attempt.attempt)


class _Attempts:
    """Turning one `RunAttempt` into an `AttemptDone`, whatever the code does."""

    def __init__(self, registry: Registry, cancel_grace: float) -> None:
        self.registry = registry
        self.cancel_grace = cancel_grace  # seconds a cancelled attempt with a process of its own has to stop
        self._running: dict[tuple, ActivityContext] = {}

    def cancel(self, key: tuple, reason: str = "") -> None:
        """Make `is_cancelled()` true and the next heartbeat raise `ActivityCancelled`."""
        ctx = self._running.get(key)
        if ctx is not None:
            ctx.cancel(reason)

    def forget(self, key: tuple) -> None:
        self._running.pop(key, None)

    def running(self) -> int:
        """Attempts submitted and not yet finished (a node's load, for its heartbeat)."""
        return len(self._running)

    def busy(self) -> bool:
        """Whether an attempt was submitted whose actor has not had its outcome (read on the driver thread)."""
        return bool(self._running)

    def _unknown(self, attempt: RunAttempt) -> AttemptDone:
        return AttemptDone(attempt.activity_id, attempt.attempt, failure=Failure(
            "UnknownActivityType",
            f"no activity named {attempt.activity_type!r} is registered with this engine; "
            f"pass it in Engine(activities=[...])", non_retryable=True))

    def _context(self, attempt: RunAttempt, send_heartbeat: Callable[[Heartbeat], None]) -> ActivityContext:
        ctx = ActivityContext(_info(attempt), lambda payload: send_heartbeat(
            Heartbeat(attempt.activity_id, attempt.attempt, payload)), attempt.heartbeat_timeout)
        self._running[attempt_key(attempt)] = ctx
        return ctx

    @staticmethod
    def _args(fn: Callable[..., Any], attempt: RunAttempt) -> list[Any]:
        raw = converter.decode_value(attempt.input, Any)
        annotations = converter.parameter_annotations(fn)
        return [converter.from_plain(value, annotations[i] if i < len(annotations) else Any)
                for i, value in enumerate(raw)]

    @staticmethod
    def _done(attempt: RunAttempt, ctx: ActivityContext, call: Callable[[], Any]) -> AttemptDone:
        """Run `call` as the attempt's code and turn whatever it does into the outcome."""
        token = current.set(ctx)
        try:
            result = converter.encode_value(call())
        except BaseException as exc:  # noqa: BLE001 - any failure of user code is recorded, never raised here
            return _Attempts._failed(attempt, ctx, exc)
        finally:
            current.reset(token)
        return AttemptDone(attempt.activity_id, attempt.attempt, result=result, heartbeat=ctx.unsent)

    @staticmethod
    def _failed(attempt: RunAttempt, ctx: ActivityContext, exc: BaseException) -> AttemptDone:
        return AttemptDone(attempt.activity_id, attempt.attempt, failure=Failure.from_exception(exc), heartbeat=ctx.unsent)


class RunningAttempt:
    """One attempt on a thread of its actor's process; the actor collects what it produced."""

    def __init__(self) -> None:
        self.beats: collections.deque[Heartbeat] = collections.deque()
        self.outcome: AttemptDone | None = None
        self._ended = threading.Event()

    def end(self, outcome: AttemptDone) -> None:
        self.outcome = outcome
        self._ended.set()

    def wait(self, timeout: float) -> bool:
        """Block until the attempt's code has ended, at most `timeout` seconds; whether it has."""
        return self._ended.wait(timeout)

    def take_beats(self) -> list[Heartbeat]:
        beats = []
        while self.beats:
            beats.append(self.beats.popleft())
        return beats


class InlineActivityRunner(_Attempts):
    def start(self, attempt: RunAttempt) -> RunningAttempt:
        running = RunningAttempt()
        definition = self.registry.activity(attempt.activity_type)
        if definition is None:
            running.end(self._unknown(attempt))
            return running
        ctx = self._context(attempt, running.beats.append)
        fn = definition.fn
        if definition.is_async:
            call = lambda: asyncio.run(run_cancellable(ctx, fn(*self._args(fn, attempt))))  # noqa: E731
        else:
            call = lambda: fn(*self._args(fn, attempt))  # noqa: E731

        def run() -> None:
            running.end(self._done(attempt, ctx, call))

        # A daemon: when the actor exits (or is killed past the grace) nothing waits for the code.
        threading.Thread(target=run, name="aion-attempt", daemon=True).start()
        return running

    def shutdown(self) -> None:
        pass


class ActivityRunner(_Attempts):
    def __init__(self, registry: Registry, post: Callable[[Any, Any], None], workers: int = 32,
                 cancel_grace: float = 5.0) -> None:
        super().__init__(registry, cancel_grace)
        self._to_driver = post
        self._post_lock = threading.Lock()
        self._closed = False
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="aion-activity")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_lock = threading.Lock()
        self.processes = ProcessAttempts(min(workers, os.cpu_count() or 1), cancel_grace)

    def submit(self, address: Any, attempt: RunAttempt) -> None:
        definition = self.registry.activity(attempt.activity_type)
        if definition is None:
            self._post(address, self._unknown(attempt))
            return
        ctx = self._context(attempt, lambda beat: self._post(address, beat))
        fn = definition.fn
        if definition.is_async:
            future = asyncio.run_coroutine_threadsafe(self._run_async(fn, attempt, ctx), self._async_loop())
            future.add_done_callback(lambda f: self._post(address, f.result()))
        elif definition.executor == "process":
            self.processes.submit(attempt_key(attempt), _run_in_worker_process, (fn, attempt),
                                  lambda payload: self._post(address, Heartbeat(attempt.activity_id, attempt.attempt,
                                                                                payload)),
                                  lambda f: self._post(address, self._from_worker(attempt, ctx, f)))
        else:
            self._pool.submit(lambda: self._post(address, self._done(attempt, ctx, lambda: fn(*self._args(fn, attempt)))))

    def _post(self, address: Any, message: Any) -> None:
        """Hand an outcome or heartbeat to the driver, unless the engine has closed.

        Attempts still running at close finish on their own threads afterwards; their
        outcomes have nobody to go to (the driver is gone) and are dropped: at-least-once,
        the attempt runs again when the workflow is resumed. The lock makes `shutdown()`
        wait for a post under way, so none reaches a driver the engine has let go of.
        """
        with self._post_lock:
            if not self._closed:
                self._to_driver(address, message)

    async def _run_async(self, fn, attempt: RunAttempt, ctx: ActivityContext) -> AttemptDone:
        current.set(ctx)
        try:
            result = await run_cancellable(ctx, fn(*self._args(fn, attempt)))
        except BaseException as exc:  # noqa: BLE001 - any failure of user code is recorded, never raised here
            return self._failed(attempt, ctx, exc)
        return self._done(attempt, ctx, lambda: result)

    def cancel(self, key: tuple, reason: str = "") -> None:
        super().cancel(key, reason)
        self.processes.cancel(key, reason)

    def _from_worker(self, attempt: RunAttempt, ctx: ActivityContext, future: concurrent.futures.Future) -> AttemptDone:
        try:
            return future.result()
        except concurrent.futures.process.BrokenProcessPool as exc:
            return dataclasses.replace(self._failed(attempt, ctx, exc), worker_died=True)
        except BaseException as exc:  # noqa: BLE001 - an unpicklable outcome: a failed attempt
            return self._failed(attempt, ctx, exc)

    def _async_loop(self) -> asyncio.AbstractEventLoop:
        with self._loop_lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                threading.Thread(target=self._loop.run_forever, name="aion-async-activities", daemon=True).start()
            return self._loop

    def shutdown(self) -> None:
        with self._post_lock:
            self._closed = True
        for ctx in list(self._running.values()):
            ctx.cancel("the engine is closing")
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.processes.shutdown()
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)


def _info(attempt: RunAttempt) -> ActivityInfo:
    details = converter.decode_value(attempt.heartbeat_details, Any) if attempt.heartbeat_details else None
    return ActivityInfo(attempt.activity_id, attempt.activity_type, attempt.attempt, attempt.workflow_id, details)


def _run_in_worker_process(fn: Callable[..., Any], attempt: RunAttempt, conn) -> AttemptDone:
    """One attempt in a pool worker; heartbeats and the cancel request travel over `conn`."""
    ctx = ActivityContext(_info(attempt), lambda payload: conn.send(("beat", payload)), attempt.heartbeat_timeout)
    serve_attempt(ctx, conn)
    return _Attempts._done(attempt, ctx, lambda: fn(*_Attempts._args(fn, attempt)))
