"""`executor="process"` activities on the in-process runtime: a pool of worker processes.

Each attempt gets a pipe to the worker that runs it: the worker reports its
pid and its heartbeats over it and receives the cancel request, so a
CPU-bound attempt heartbeats and sees its cancellation as a thread does.
One that ignores its cancellation is killed after the grace period. Killing
a pool worker breaks the pool (it stops its other workers too): the
attempts that shared it report a dead worker and run again (at-least-once),
and later attempts get a fresh pool.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import signal
import threading
from typing import Any, Callable

from ..activity import ActivityContext
from .messages import AttemptDone

_READ_EVERY = 0.1  # seconds between checks whether an attempt's pipe may be closed


class _Pipe:
    """The engine's end of one attempt's pipe, and what came over it."""

    def __init__(self, conn) -> None:
        self.conn = conn
        self.pid: int | None = None
        self.done = False


class ProcessAttempts:
    def __init__(self, workers: int, cancel_grace: float) -> None:
        self._workers = workers
        self._grace = cancel_grace
        self._lock = threading.Lock()
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._pipes: dict[tuple, _Pipe] = {}

    def submit(self, key: tuple, call: Callable[..., AttemptDone], args: tuple,
               on_beat: Callable[[Any], None], on_done: Callable[[concurrent.futures.Future], None]) -> None:
        """Run `call(*args, conn)` in a worker; `conn` is the worker's end of the attempt's pipe."""
        mine, theirs = multiprocessing.Pipe()
        pipe = self._pipes[key] = _Pipe(mine)
        future = self._current_pool().submit(call, *args, theirs)
        threading.Thread(target=self._read, args=(pipe, on_beat), name="aion-process-attempt", daemon=True).start()

        def finished(f: concurrent.futures.Future) -> None:
            pipe.done = True
            theirs.close()
            self._pipes.pop(key, None)
            on_done(f)

        future.add_done_callback(finished)

    def _current_pool(self) -> concurrent.futures.ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                # forkserver: forking this multi-threaded process could deadlock a child.
                context = multiprocessing.get_context("forkserver")
                self._pool = concurrent.futures.ProcessPoolExecutor(self._workers, mp_context=context)
            return self._pool

    @staticmethod
    def _read(pipe: _Pipe, on_beat: Callable[[Any], None]) -> None:
        try:
            while not pipe.done:
                if not pipe.conn.poll(_READ_EVERY):
                    continue
                kind, value = pipe.conn.recv()
                if kind == "pid":
                    pipe.pid = value
                elif kind == "beat":
                    on_beat(value)
        except (EOFError, OSError):
            pass
        finally:
            pipe.conn.close()  # the worker's listener sees the end of the pipe and stops

    def cancel(self, key: tuple, reason: str) -> None:
        pipe = self._pipes.get(key)
        if pipe is None:
            return
        try:
            pipe.conn.send(("cancel", reason))
        except OSError:
            return  # finished meanwhile
        killer = threading.Timer(self._grace, self._kill, args=(pipe,))
        killer.daemon = True
        killer.start()

    def _kill(self, pipe: _Pipe) -> None:
        if pipe.done or pipe.pid is None:
            return
        with self._lock:
            broken, self._pool = self._pool, None
        try:
            os.kill(pipe.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if broken is not None:
            broken.shutdown(wait=False, cancel_futures=True)

    def shutdown(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            # A running attempt is abandoned (at-least-once: it runs again on the next open);
            # its worker must not outlive the engine.
            for process in list(getattr(pool, "_processes", {}).values()):
                process.kill()
            pool.shutdown(wait=True, cancel_futures=True)

    def worker_processes(self) -> list:
        pool = self._pool
        return list(getattr(pool, "_processes", {}).values()) if pool is not None else []


def serve_attempt(ctx: ActivityContext, conn) -> None:
    """In the worker: report the pid, and turn a cancel request from the engine into `ctx.cancel`."""
    conn.send(("pid", os.getpid()))

    def listen() -> None:
        try:
            while True:
                kind, reason = conn.recv()
                if kind == "cancel":
                    ctx.cancel(reason)
        except (EOFError, OSError):
            conn.close()  # the engine closed its end: the attempt is over

    threading.Thread(target=listen, name="aion-cancel-listener", daemon=True).start()
