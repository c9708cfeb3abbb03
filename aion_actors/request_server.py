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
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Callable

from stores.inbox import Request, RequestInbox

from . import inbox
from .errors import InvalidArgument
from .payload import Payload
from .runtime import routing

if TYPE_CHECKING:
    from .engine import Engine

log = logging.getLogger(__name__)

STALE_AFTER = timedelta(hours=1)  # a request this old was abandoned by its client or its server
_PRUNE_EVERY = 60.0


def _payload(body: dict) -> Any:
    """A value from another node comes encoded already (its bytes kept); the CLI's is plain JSON data."""
    if "content_type" in body:
        return Payload(body["content_type"], body.get("payload", body.get("data")))
    return body.get("input", body.get("payload"))


def _start(engine: "Engine", request: Request, body: dict) -> Any:
    value = _payload(body)
    if isinstance(value, Payload):
        engine._start(request.workflow_id, body["type"], value)
        return {"workflow_id": request.workflow_id}
    handle = engine.start(body["type"], value, id=request.workflow_id)
    return {"workflow_id": handle.workflow_id}


def _signal(engine: "Engine", request: Request, body: dict) -> Any:
    # Keyed by the request: a request served again after its first server died is recorded once.
    engine._signal(request.workflow_id, body["name"], _payload(body),
                   key=f"request:{body.get('request_key', request.id)}")


def _query(engine: "Engine", request: Request, body: dict) -> Any:
    return engine.get_handle(request.workflow_id).query(body["name"], *body.get("args", ()),
                                                        timeout=float(body.get("timeout", 10)))


def _cancel(engine: "Engine", request: Request, body: dict) -> Any:
    engine.get_handle(request.workflow_id).cancel(body.get("reason", ""))


def _terminate(engine: "Engine", request: Request, body: dict) -> Any:
    engine.get_handle(request.workflow_id).terminate(body.get("reason", ""))


def _pause(engine: "Engine", request: Request, body: dict) -> Any:
    engine.get_handle(request.workflow_id).pause(body.get("reason", ""))


def _resume(engine: "Engine", request: Request, body: dict) -> Any:
    engine.get_handle(request.workflow_id).resume()


def _deliver(engine: "Engine", request: Request, body: dict) -> Any:
    """Another node's run sent this workflow an event (a signal, its child's outcome, a cancel)."""
    event = routing.delivered_event(body)
    engine._perform("deliver", request.workflow_id, body,
                    lambda runtime: runtime.deliver(request.workflow_id, event, timeout=60))


def _spawn(engine: "Engine", request: Request, body: dict) -> Any:
    """Another node's run started a child whose shard is ours."""
    spawn = routing.spawned(request.workflow_id, body)
    engine._perform("spawn", request.workflow_id, body, lambda runtime: runtime.spawn(spawn))


HANDLERS: dict[str, Callable[["Engine", Request, dict], Any]] = {
    "start": _start, "signal": _signal, "query": _query, "cancel": _cancel, "terminate": _terminate,
    "pause": _pause, "resume": _resume, "deliver": _deliver, "spawn": _spawn,
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

    def __init__(self, engine: "Engine", *, poll_interval: float = 0.2, threads: int = 8) -> None:
        if not isinstance(engine._store, RequestInbox):
            raise InvalidArgument(f"the store {type(engine._store).__name__} has no request inbox, so this engine "
                                  f"cannot serve requests: implement stores.RequestInbox on it too, or give the "
                                  f"engine a store URL")
        self.engine = engine
        runtime = engine._require_open()
        self.name = runtime.node_id  # its claims lapse when this node is found dead
        self._waker = runtime.waker
        self._woken = runtime.woken  # a poke may be a task queue worker's: its outcome is in the store
        self._saturated = False  # every request thread was busy at the last look
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
        if self._waker is not None:
            self._waker.wake()
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
                ownership = self.engine._require_open().ownership
                shards = None if ownership.exclusive else ownership.serving()
                claimed = store.claim_requests(self.name, free, shards=shards) if free else []
                self._saturated = len(claimed) >= free  # more may be waiting than there were threads
                for _ in range(free - len(claimed)):
                    self._in_flight.release()
                for request in claimed:
                    self._pool.submit(self._perform, request)
            except Exception:  # a store hiccup must not end the server; the next poll retries
                log.exception("the request server could not read the inbox")
            if self._waker is None:
                self._stopping.wait(self._poll)
            else:
                if self._waker.wait(self._poll):  # a request's writer pokes it: no poll interval to wait out
                    self._woken()

    def _perform(self, request: Request) -> None:
        try:
            reply, error, body = None, None, {}
            try:
                handler = HANDLERS.get(request.kind)
                if handler is None:
                    raise InvalidArgument(f"unknown request kind {request.kind!r}; one of {', '.join(HANDLERS)}")
                body = inbox.decode_body(request.body)
                reply = inbox.encode_reply(handler(self.engine, request, body))
            except Exception as exc:  # every failure is answered, typed when the client knows the type
                error = inbox.encode_error(exc)
            try:
                self.engine._store.answer_request(request.id, reply, error)
            except Exception:
                log.exception("the request server could not answer request %s", request.id)
                return
            reply_to = body.get("reply_to") if isinstance(body, dict) else None
            if self._waker is not None and isinstance(reply_to, str):
                self._waker.poke(reply_to)  # the client reads its answer now, not at its next poll
        finally:
            self._in_flight.release()
            if self._waker is not None and self._saturated:
                self._waker.wake()  # the loop stopped claiming when every thread was busy: claim again now
