"""Where activity code runs: never on the thread that drives the actors.

Sync activities run on a thread pool; `async def` activities on one asyncio
loop in a thread of its own. Each outcome is posted back to the driver as a
message for the attempt's actor.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from typing import Any, Callable

from .. import converter
from ..activity import ActivityContext, ActivityInfo, current
from ..definitions import Registry
from ..errors import ApplicationError, Failure
from ..instance import failure_from
from .messages import AttemptDone, Heartbeat, RunAttempt


def attempt_key(attempt: RunAttempt) -> tuple:
    return (attempt.workflow_id, attempt.activity_id, attempt.attempt)


class ActivityRunner:
    def __init__(self, registry: Registry, post: Callable[[Any, Any], None], workers: int = 32) -> None:
        self.registry = registry
        self._post = post
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="aion-activity")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_lock = threading.Lock()
        self._running: dict[Any, ActivityContext] = {}

    def submit(self, address: Any, attempt: RunAttempt) -> None:
        definition = self.registry.activity(attempt.activity_type)
        if definition is None:
            self._post(address, AttemptDone(attempt.activity_id, attempt.attempt, failure=Failure(
                "UnknownActivityType",
                f"no activity named {attempt.activity_type!r} is registered with this engine; "
                f"pass it in Engine(activities=[...])", non_retryable=True)))
            return
        details = converter.decode_value(attempt.heartbeat_details, Any) if attempt.heartbeat_details else None
        ctx = ActivityContext(ActivityInfo(attempt.activity_id, attempt.activity_type, attempt.attempt,
                                           attempt.workflow_id, details),
                              lambda payload: self._post(address, Heartbeat(attempt.activity_id, attempt.attempt,
                                                                            payload)))
        self._running[attempt_key(attempt)] = ctx
        if definition.is_async:
            future = asyncio.run_coroutine_threadsafe(self._run_async(definition.fn, attempt, ctx), self._async_loop())
            future.add_done_callback(lambda f: self._post(address, self._with_unsent(f.result(), ctx)))
        else:
            self._pool.submit(self._run_sync, definition.fn, attempt, ctx, address)

    def cancel(self, key: tuple) -> None:
        ctx = self._running.get(key)
        if ctx is not None:
            ctx.cancelled.set()

    def forget(self, key: tuple) -> None:
        self._running.pop(key, None)

    def _args(self, fn: Callable[..., Any], attempt: RunAttempt) -> list[Any]:
        raw = converter.decode_value(attempt.input, Any)
        annotations = converter.parameter_annotations(fn)
        return [converter.from_plain(value, annotations[i] if i < len(annotations) else Any)
                for i, value in enumerate(raw)]

    def _outcome(self, attempt: RunAttempt, call: Callable[[], Any]) -> AttemptDone:
        try:
            return AttemptDone(attempt.activity_id, attempt.attempt, result=converter.encode_value(call()))
        except BaseException as exc:  # noqa: BLE001 - any failure of user code is recorded, never raised here
            return AttemptDone(attempt.activity_id, attempt.attempt, failure=failure_from(exc))

    def _run_sync(self, fn, attempt: RunAttempt, ctx: ActivityContext, address: Any) -> None:
        token = current.set(ctx)
        try:
            done = self._outcome(attempt, lambda: fn(*self._args(fn, attempt)))
        finally:
            current.reset(token)
        self._post(address, self._with_unsent(done, ctx))

    @staticmethod
    def _with_unsent(done: AttemptDone, ctx: ActivityContext) -> AttemptDone:
        if ctx.unsent is None:
            return done
        return AttemptDone(done.activity_id, done.attempt, done.result, done.failure, ctx.unsent)

    async def _run_async(self, fn, attempt: RunAttempt, ctx: ActivityContext) -> AttemptDone:
        current.set(ctx)
        try:
            result = await fn(*self._args(fn, attempt))
        except BaseException as exc:  # noqa: BLE001
            return AttemptDone(attempt.activity_id, attempt.attempt, failure=failure_from(exc))
        return self._outcome(attempt, lambda: result)

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
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
