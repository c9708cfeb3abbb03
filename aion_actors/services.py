"""Client-facing services: signals, queries and cancellation, spoken through the seam.

Each checks where the workflow lives first, so a refused call records
nothing and says why; the Recorder checks again when it records, which
closes the race with a run that ends meanwhile.
"""

from __future__ import annotations

import concurrent.futures
from typing import Any

from . import converter
from . import events as ev
from .errors import InvalidArgument, NotRunning, QueryTimeout, WorkflowNotFound
from .payload import Payload
from .seam import EngineHandle, Query, Residency


def _check_name(kind: str, name: object) -> None:
    if not isinstance(name, str) or not name:
        raise InvalidArgument(f"a {kind} name must be a non-empty string, got {name!r}")


class _Service:
    def __init__(self, seam: EngineHandle, status_of) -> None:
        self.seam = seam
        self._status_of = status_of

    def _require_running(self, workflow_id: str) -> None:
        residency = self.seam.resolve_workflow(workflow_id)
        if residency is Residency.UNKNOWN:
            raise WorkflowNotFound(workflow_id)
        if residency is Residency.TERMINAL:
            raise NotRunning(workflow_id, self._status_of(workflow_id))


class SignalService(_Service):
    def signal(self, workflow_id: str, name: str, payload: Any, timeout: float = 60, key: str = "") -> None:
        """`key`: see `events.SignalReceived.key` (a routed request's id, so a retry records nothing)."""
        _check_name("signal", name)
        encoded = payload if isinstance(payload, Payload) else converter.encode_value(payload)
        self._require_running(workflow_id)
        self.seam.deliver_workflow_message(workflow_id, ev.SignalReceived(name, encoded, key)).result(timeout)

    def cancel(self, workflow_id: str, reason: str, timeout: float = 60) -> None:
        if not isinstance(reason, str):
            raise InvalidArgument(f"a cancel reason must be a string, got {reason!r}")
        self._require_running(workflow_id)
        self.seam.deliver_workflow_message(workflow_id, ev.WorkflowCancelRequested(reason)).result(timeout)

    def terminate(self, workflow_id: str, reason: str, timeout: float = 60) -> None:
        if not isinstance(reason, str):
            raise InvalidArgument(f"a terminate reason must be a string, got {reason!r}")
        self._require_running(workflow_id)
        self.seam.deliver_workflow_message(workflow_id, ev.WorkflowCancelled(reason, terminated=True)).result(timeout)

    def pause(self, workflow_id: str, reason: str, timeout: float = 60) -> None:
        if not isinstance(reason, str):
            raise InvalidArgument(f"a pause reason must be a string, got {reason!r}")
        self._require_running(workflow_id)
        self.seam.deliver_workflow_message(workflow_id, ev.WorkflowPaused(reason)).result(timeout)

    def resume(self, workflow_id: str, timeout: float = 60) -> None:
        self._require_running(workflow_id)
        self.seam.deliver_workflow_message(workflow_id, ev.WorkflowResumed("resumed by a user")).result(timeout)


class QueryService(_Service):
    def query(self, workflow_id: str, name: str, args: tuple, timeout: float) -> Any:
        _check_name("query", name)
        converter.encode_value(list(args))
        self._require_running(workflow_id)
        reply = self.seam.deliver_workflow_message(workflow_id, Query(name, args))
        try:
            payload = reply.result(timeout)
        except concurrent.futures.TimeoutError:
            raise QueryTimeout(workflow_id, name, timeout) from None
        return converter.decode_value(payload, Any)
