"""The request inbox's wire format, and the client side: put a request, wait for its answer.

A process that does not serve a workflow (the `aion` CLI) must not append to
its history: each workflow has one writer, the Recorder inside the engine
serving it. So it puts a request in the store's inbox (`stores.RequestInbox`)
and an engine running a `RequestServer` (`aion_actors.request_server`)
claims it, performs it through the public Engine/Handle API and answers.

Bodies and replies are msgpack; an error crosses as JSON naming its class
and constructor arguments, so the client raises the same typed `AionError`
the engine raised (`WorkflowNotFound`, `NotRunning`, `UnknownQuery`, ...).
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from stores.inbox import Request, RequestInbox

from . import converter
from . import errors
from .payload import MSGPACK, Payload, decode, encode
from .runtime.context import store_errors

KINDS = ("start", "signal", "query", "cancel", "terminate", "pause", "resume",
         "deliver", "spawn")  # the last two: one node's runs reaching another's workflows (`runtime.routing`)
POLL = 0.05
# Errors rebuilt as their own class on the client; their reduce args are plain data.
_TYPED = {cls.__name__: cls for cls in (
    errors.WorkflowNotFound, errors.WorkflowAlreadyExists, errors.UnknownWorkflowType, errors.NotRunning,
    errors.UnknownQuery, errors.QueryFailed, errors.QueryTimeout, errors.PayloadError, errors.InvalidArgument,
    errors.StoreError)}


def encode_body(body: dict[str, Any]) -> bytes:
    return encode(converter.to_plain(body)).data


def decode_body(data: bytes) -> dict[str, Any]:
    return decode(Payload(MSGPACK, data))


def encode_reply(value: Any) -> bytes:
    return converter.encode_value(value).data


def encode_error(exc: BaseException) -> str:
    """The error as JSON text: its class and arguments if the client can rebuild it, else its message."""
    name = type(exc).__name__
    if isinstance(exc, errors.AionError) and name in _TYPED:
        _, args = exc.__reduce__()[:2]
        try:
            return json.dumps({"type": name, "args": list(args), "message": str(exc)})
        except TypeError:
            pass
    message = str(exc) if isinstance(exc, errors.AionError) else f"the worker failed: {name}: {exc}"
    return json.dumps({"type": "AionError", "args": [], "message": message})


def raise_error(text: str) -> None:
    try:
        found = json.loads(text)
        cls = _TYPED.get(found["type"])
        exc = cls(*found["args"]) if cls is not None else errors.AionError(found["message"])
    except (ValueError, KeyError, TypeError):
        exc = errors.AionError(f"the worker answered with an unreadable error: {text[:200]}")
    raise exc


def outcome(request: Request) -> Any:
    """The answer of an answered request: its value, or its error raised."""
    if request.error is not None:
        raise_error(request.error)
    return None if request.reply is None else converter.decode_value(Payload(MSGPACK, request.reply))


def call(store: RequestInbox, kind: str, workflow_id: str | None, body: dict[str, Any], *,
         timeout: float = 10.0, answer_timeout: float | None = None) -> Any:
    """Put a request and wait for its answer; return the reply value or raise the typed error.

    No server claiming it within `timeout` seconds: the request is withdrawn
    (nothing recorded) and `NoWorkerAnswered` is raised. A server that claimed
    it gets `answer_timeout` more seconds (default `timeout + 5`).
    """
    if kind not in KINDS:
        raise errors.InvalidArgument(f"unknown request kind {kind!r}; one of {', '.join(KINDS)}")
    # A key of its own, so a request served again after its first server died is recorded once.
    data = encode_body({**body, "request_key": uuid.uuid4().hex})
    with store_errors():
        request_id = store.put_request(kind, workflow_id, data)
    claim_deadline = time.monotonic() + timeout
    allowed = timeout + 5 if answer_timeout is None else answer_timeout
    answer_deadline = None
    while True:
        with store_errors():
            request = store.get_request(request_id)
        if request is None:
            raise errors.AionError(f"request {request_id} disappeared from the store before it was answered "
                                   f"(pruned as stale?); check with: aion describe {workflow_id or ''}".rstrip())
        if request.answered:
            return outcome(request)
        now = time.monotonic()
        if request.claimed_by is None:
            if now >= claim_deadline:
                with store_errors():
                    if store.withdraw_request(request_id):
                        raise errors.NoWorkerAnswered(timeout, False, workflow_id)
                continue  # claimed just now: wait for the answer
        else:
            if answer_deadline is None:
                answer_deadline = now + allowed
            elif now >= answer_deadline:
                raise errors.NoWorkerAnswered(allowed, True, workflow_id)
        time.sleep(POLL)
