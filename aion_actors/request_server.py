"""`RequestServer`: an engine answering the store's request inbox, for other processes.

It runs on a thread of its own: every `poll_interval` seconds it claims the
requests nobody has taken (`RequestInbox.claim_requests`, atomic across
processes), performs each through the engine's public API — exactly what a
caller in the engine's own process would do — and answers with the value
or the typed error. Requests run on a few threads, so a slow query does not
hold up a signal. `Engine(serve_requests=True)` or `engine.serve_requests()`
starts one; `engine.close()` stops it, after the requests in hand are answered.
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import socket
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Callable

from stores.inbox import Request, RequestInbox

from . import inbox
from .errors import InvalidArgument

if TYPE_CHECKING:
    from .engine import Engine

log = logging.getLogger(__name__)

STALE_AFTER = timedelta(hours=1)  # a request this old was abandoned by its client or its server
_PRUNE_EVERY = 60.0


def _start(engine: "Engine", workflow_id: str | None, body: dict) -> Any:
    handle = engine.start(body["type"], body.get("input"), id=workflow_id)
    return {"workflow_id": handle.workflow_id}


def _signal(engine: "Engine", workflow_id: str | None, body: dict) -> Any:
    engine.get_handle(workflow_id).signal(body["name"], body.get("payload"))


def _query(engine: "Engine", workflow_id: str | None, body: dict) -> Any:
    return engine.get_handle(workflow_id).query(body["name"], *body.get("args", ()),
                                                timeout=float(body.get("timeout", 10)))


def _cancel(engine: "Engine", workflow_id: str | None, body: dict) -> Any:
    engine.get_handle(workflow_id).cancel(body.get("reason", ""))


def _terminate(engine: "Engine", workflow_id: str | None, body: dict) -> Any:
    engine.get_handle(workflow_id).terminate(body.get("reason", ""))


def _pause(engine: "Engine", workflow_id: str | None, body: dict) -> Any:
    engine.get_handle(workflow_id).pause(body.get("reason", ""))


def _resume(engine: "Engine", workflow_id: str | None, body: dict) -> Any:
    engine.get_handle(workflow_id).resume()


HANDLERS: dict[str, Callable[["Engine", str | None, dict], Any]] = {
    "start": _start, "signal": _signal, "query": _query, "cancel": _cancel, "terminate": _terminate,
    "pause": _pause, "resume": _resume,
}


class RequestServer:
    """Serves the request inbox of `engine`'s store until `stop()`.

    Args:
        engine: an open `Engine`; requests go through its public API.
        poll_interval: seconds between looks at the inbox.
        threads: requests performed at once.

    Raises:
        InvalidArgument: the engine's store does not implement `stores.RequestInbox`.
    """

    def __init__(self, engine: "Engine", *, poll_interval: float = 0.05, threads: int = 4) -> None:
        if not isinstance(engine._store, RequestInbox):
            raise InvalidArgument(f"the store {type(engine._store).__name__} has no request inbox, so this engine "
                                  f"cannot serve requests: implement stores.RequestInbox on it too, or give the "
                                  f"engine a store URL")
        self.engine = engine
        self.name = f"{socket.gethostname()}:{os.getpid()}:{id(engine):x}"
        self._poll = poll_interval
        self._threads = threads
        self._stopping = threading.Event()
        self._pool = concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="aion-request")
        self._in_flight = threading.Semaphore(threads)
        self._thread = threading.Thread(target=self._run, name="aion-request-server", daemon=True)

    def start(self) -> "RequestServer":
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Claim nothing more; answer the requests in hand, then return."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._pool.shutdown(wait=True)

    def _run(self) -> None:
        store = self.engine._store
        next_prune = 0.0
        while not self._stopping.is_set():
            try:
                if time.monotonic() >= next_prune:
                    store.prune_requests(datetime.now(timezone.utc) - STALE_AFTER)
                    next_prune = time.monotonic() + _PRUNE_EVERY
                free = 0
                while self._in_flight.acquire(blocking=False):
                    free += 1
                claimed = store.claim_requests(self.name, free) if free else []
                for _ in range(free - len(claimed)):
                    self._in_flight.release()
                for request in claimed:
                    self._pool.submit(self._perform, request)
            except Exception:  # a store hiccup must not end the server; the next poll retries
                log.exception("the request server could not read the inbox")
            self._stopping.wait(self._poll)

    def _perform(self, request: Request) -> None:
        try:
            reply, error = None, None
            try:
                handler = HANDLERS.get(request.kind)
                if handler is None:
                    raise InvalidArgument(f"unknown request kind {request.kind!r}; one of {', '.join(HANDLERS)}")
                reply = inbox.encode_reply(handler(self.engine, request.workflow_id,
                                                   inbox.decode_body(request.body)))
            except Exception as exc:  # every failure is answered, typed when the client knows the type
                error = inbox.encode_error(exc)
            try:
                self.engine._store.answer_request(request.id, reply, error)
            except Exception:
                log.exception("the request server could not answer request %s", request.id)
        finally:
            self._in_flight.release()
