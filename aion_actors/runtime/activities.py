"""Where activity code runs: never on the thread that drives the actors.

In-process runtime (`ActivityRunner`): sync activities run on a thread pool,
`async def` activities on one asyncio loop in a thread of its own, and each
outcome is posted back to the driver as a message for the attempt's actor.
Multi-process runtime (`InlineActivityRunner`): the attempt's actor is an OS
process of its own, so it runs the attempt right there; blocking it blocks
no one else, and a crash of the code kills only that process.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import multiprocessing
import os
import threading
from typing import Any, Callable

from .. import converter
from ..activity import ActivityContext, ActivityInfo, current
from ..definitions import Registry
from ..errors import Failure
from ..instance import failure_from
from .messages import AttemptDone, Heartbeat, RunAttempt


def attempt_key(attempt: RunAttempt) -> tuple:
    return (attempt.workflow_id, attempt.activity_id, attempt.attempt)


class _Attempts:
    """Turning one `RunAttempt` into an `AttemptDone`, whatever the code does."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def _unknown(self, attempt: RunAttempt) -> AttemptDone:
        return AttemptDone(attempt.activity_id, attempt.attempt, failure=Failure(
            "UnknownActivityType",
            f"no activity named {attempt.activity_type!r} is registered with this engine; "
            f"pass it in Engine(activities=[...])", non_retryable=True))

    def _context(self, attempt: RunAttempt, send_heartbeat: Callable[[Heartbeat], None]) -> ActivityContext:
        details = converter.decode_value(attempt.heartbeat_details, Any) if attempt.heartbeat_details else None
        info = ActivityInfo(attempt.activity_id, attempt.activity_type, attempt.attempt, attempt.workflow_id, details)
        return ActivityContext(info, lambda payload: send_heartbeat(
            Heartbeat(attempt.activity_id, attempt.attempt, payload)))

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
        return AttemptDone(attempt.activity_id, attempt.attempt, failure=failure_from(exc), heartbeat=ctx.unsent)


class InlineActivityRunner(_Attempts):
    def run(self, attempt: RunAttempt, send_heartbeat: Callable[[Heartbeat], None]) -> AttemptDone:
        definition = self.registry.activity(attempt.activity_type)
        if definition is None:
            return self._unknown(attempt)
        ctx = self._context(attempt, send_heartbeat)
        fn = definition.fn
        if definition.is_async:
            return self._done(attempt, ctx, lambda: asyncio.run(fn(*self._args(fn, attempt))))
        return self._done(attempt, ctx, lambda: fn(*self._args(fn, attempt)))

    def cancel(self, key: tuple) -> None:
        """Nothing to flag from outside: the parent stops the attempt's process instead."""

    def forget(self, key: tuple) -> None:
        pass

    def shutdown(self) -> None:
        pass


class ActivityRunner(_Attempts):
    def __init__(self, registry: Registry, post: Callable[[Any, Any], None], workers: int = 32) -> None:
        super().__init__(registry)
        self._post = post
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="aion-activity")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_lock = threading.Lock()
        self._running: dict[tuple, ActivityContext] = {}
        self._workers = min(workers, os.cpu_count() or 1)
        self._processes: concurrent.futures.ProcessPoolExecutor | None = None

    def submit(self, address: Any, attempt: RunAttempt) -> None:
        definition = self.registry.activity(attempt.activity_type)
        if definition is None:
            self._post(address, self._unknown(attempt))
            return
        ctx = self._context(attempt, lambda beat: self._post(address, beat))
        self._running[attempt_key(attempt)] = ctx
        fn = definition.fn
        if definition.is_async:
            future = asyncio.run_coroutine_threadsafe(self._run_async(fn, attempt, ctx), self._async_loop())
            future.add_done_callback(lambda f: self._post(address, f.result()))
        elif definition.executor == "process":
            future = self._process_pool().submit(_run_in_worker_process, definition.name, fn, attempt)
            future.add_done_callback(lambda f: self._post(address, self._from_worker(attempt, ctx, f)))
        else:
            self._pool.submit(lambda: self._post(address, self._done(attempt, ctx, lambda: fn(*self._args(fn, attempt)))))

    async def _run_async(self, fn, attempt: RunAttempt, ctx: ActivityContext) -> AttemptDone:
        current.set(ctx)
        try:
            result = await fn(*self._args(fn, attempt))
        except BaseException as exc:  # noqa: BLE001 - any failure of user code is recorded, never raised here
            return self._failed(attempt, ctx, exc)
        return self._done(attempt, ctx, lambda: result)

    def _process_pool(self) -> concurrent.futures.ProcessPoolExecutor:
        with self._loop_lock:
            if self._processes is None:
                # forkserver: forking this multi-threaded process could deadlock a child.
                context = multiprocessing.get_context("forkserver")
                self._processes = concurrent.futures.ProcessPoolExecutor(self._workers, mp_context=context)
            return self._processes

    def _from_worker(self, attempt: RunAttempt, ctx: ActivityContext, future: concurrent.futures.Future) -> AttemptDone:
        try:
            return future.result()
        except BaseException as exc:  # noqa: BLE001 - a dead worker or an unpicklable outcome: a failed attempt
            return self._failed(attempt, ctx, exc)

    def cancel(self, key: tuple) -> None:
        ctx = self._running.get(key)
        if ctx is not None:
            ctx.cancelled.set()

    def forget(self, key: tuple) -> None:
        self._running.pop(key, None)

    def busy(self) -> bool:
        """Whether an attempt was submitted whose actor has not had its outcome (read on the driver thread)."""
        return bool(self._running)

    def _async_loop(self) -> asyncio.AbstractEventLoop:
        with self._loop_lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                threading.Thread(target=self._loop.run_forever, name="aion-async-activities", daemon=True).start()
            return self._loop

    def shutdown(self) -> None:
        for ctx in self._running.values():
            ctx.cancelled.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self._processes is not None:
            # A running attempt is abandoned (at-least-once: it runs again on the next open);
            # its worker must not outlive the engine.
            for process in list(getattr(self._processes, "_processes", {}).values()):
                process.kill()
            self._processes.shutdown(wait=True, cancel_futures=True)
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)


def _run_in_worker_process(name: str, fn: Callable[..., Any], attempt: RunAttempt) -> AttemptDone:
    """One attempt in a worker process: no heartbeats reach the engine from here."""
    ctx = ActivityContext(ActivityInfo(attempt.activity_id, attempt.activity_type, attempt.attempt,
                                       attempt.workflow_id, None), lambda payload: None)
    return _Attempts._done(attempt, ctx, lambda: fn(*_Attempts._args(fn, attempt)))
