"""The deterministic asyncio loop that workflow code runs on.

It has no clock, no I/O and no threads: `time()` is the workflow's recorded
time, `call_later`/`call_at` start durable timers (so `asyncio.sleep` and
`asyncio.wait_for` are durable), and callbacks run only when the engine
steps the loop. Futures and tasks are asyncio's pure-Python classes with
one change: a cancellation raises `aion_actors.CancelledError`.
"""

from __future__ import annotations

import asyncio
import asyncio.events as _events
import asyncio.futures as _futures
import asyncio.tasks as _tasks
import collections
import logging
import weakref
from typing import TYPE_CHECKING, Any, Callable

from .errors import AionError, CancelledError

if TYPE_CHECKING:
    from .instance import WorkflowInstance

log = logging.getLogger("aion_actors.workflow")


class WorkflowRuleError(AionError):
    """Workflow code did something replay cannot reproduce (threads, I/O, foreign loops)."""


class WorkflowFuture(_futures._PyFuture):
    def _make_cancelled_error(self):
        return CancelledError(self._cancel_message or "")


class WorkflowTask(_tasks._PyTask):
    def _make_cancelled_error(self):
        return CancelledError(self._cancel_message or "")


class DurableTimerHandle(asyncio.TimerHandle):
    __slots__ = ("timer_id",)


class WorkflowLoop(asyncio.AbstractEventLoop):
    def __init__(self, instance: "WorkflowInstance") -> None:
        self.instance = instance
        self._ready: collections.deque[asyncio.Handle] = collections.deque()
        self._closed = False
        self._tasks: weakref.WeakSet[asyncio.Task] = weakref.WeakSet()

    # -- stepping ------------------------------------------------------------

    def run_until_idle(self) -> None:
        """Run callbacks until every task waits on something the engine must deliver."""
        previous = _events._get_running_loop()
        _events._set_running_loop(self)
        try:
            while self._ready:
                handle = self._ready.popleft()
                if not handle._cancelled:
                    handle._run()
        finally:
            _events._set_running_loop(previous)

    # -- what asyncio needs ------------------------------------------------

    def time(self) -> float:
        return self.instance.now.timestamp()

    def call_soon(self, callback: Callable[..., Any], *args: Any, context=None) -> asyncio.Handle:
        handle = asyncio.Handle(callback, args, self, context)
        self._ready.append(handle)
        return handle

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any, context=None):
        return self.call_at(self.time() + delay, callback, *args, context=context)

    def call_at(self, when: float, callback: Callable[..., Any], *args: Any, context=None):
        handle = DurableTimerHandle(when, callback, args, self, context)
        handle.timer_id = self.instance.start_timer(handle, max(0.0, when - self.time()))
        return handle

    def call_later_named(self, name: str, delay: float, callback: Callable[..., Any]) -> DurableTimerHandle:
        handle = DurableTimerHandle(self.time() + delay, callback, (), self, None)
        handle.timer_id = self.instance.start_timer(handle, max(0.0, delay), name)
        return handle

    def _timer_handle_cancelled(self, handle: asyncio.TimerHandle) -> None:
        self.instance.cancel_timer(handle.timer_id)

    def create_future(self) -> asyncio.Future:
        return WorkflowFuture(loop=self)

    def create_task(self, coro, *, name=None, context=None) -> asyncio.Task:
        task = WorkflowTask(coro, loop=self, name=name, context=context)
        self._tasks.add(task)
        return task

    def get_debug(self) -> bool:
        return False

    def is_running(self) -> bool:
        return not self._closed

    def is_closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Stop the code where it waits. Its `finally` blocks get GeneratorExit now, here,
        rather than from the garbage collector later, where whatever they try (a workflow
        call, an await) would surface as an "exception ignored" on stderr. They record nothing."""
        self._closed = True
        self._ready.clear()
        for task in list(self._tasks):
            if not task.done():
                try:
                    task.get_coro().close()
                except BaseException:  # noqa: BLE001 - a finally that awaits or calls the workflow API
                    pass

    def get_exception_handler(self):
        return None

    def call_exception_handler(self, context: dict) -> None:
        # Unretrieved task exceptions are reported here; they do not affect the run.
        log.debug("workflow %s: %s", self.instance.info.workflow_id, context.get("message"))

    def default_exception_handler(self, context: dict) -> None:
        self.call_exception_handler(context)

    # -- what replay cannot allow -------------------------------------------

    def _refuse(self, what: str):
        raise WorkflowRuleError(
            f"{what} is not allowed in workflow code: it cannot be replayed. "
            f"Do I/O, threads and blocking work in an activity (workflow.execute_activity)"
        )

    def call_soon_threadsafe(self, *args, **kwargs):
        self._refuse("call_soon_threadsafe (threads)")

    def run_in_executor(self, *args, **kwargs):
        self._refuse("run_in_executor / asyncio.to_thread (threads)")

    def run_until_complete(self, future):
        self._refuse("run_until_complete")

    def run_forever(self):
        self._refuse("run_forever")

    async def getaddrinfo(self, *args, **kwargs):
        self._refuse("network I/O")

    async def create_connection(self, *args, **kwargs):
        self._refuse("network I/O")

    async def create_server(self, *args, **kwargs):
        self._refuse("network I/O")

    async def subprocess_exec(self, *args, **kwargs):
        self._refuse("subprocesses")

    async def subprocess_shell(self, *args, **kwargs):
        self._refuse("subprocesses")

    def add_reader(self, *args, **kwargs):
        self._refuse("file descriptor I/O")

    def add_writer(self, *args, **kwargs):
        self._refuse("file descriptor I/O")

    def add_signal_handler(self, *args, **kwargs):
        self._refuse("signal handlers")
