"""`ActorEngineHandle`: the seam's operations as messages to the engine actor.

Built over two functions: `tell` (fire and forget) and `request` (a reply
comes back as a future). Clients get both through the driver; actors get
only `tell`, since an actor never blocks on an answer.
"""

from __future__ import annotations

import concurrent.futures
from datetime import datetime
from typing import Any, Callable

from .. import events as ev
from ..errors import AionError
from ..payload import Payload
from ..seam import MailboxMessage, Query, Residency
from .messages import (ArmTimer, DeliverToWorkflow, DisarmTimer, QueryWorkflow, ResolveWorkflow, SpawnChild,
                       TerminateActivity)


class ActorEngineHandle:
    def __init__(self, tell: Callable[[Any], None],
                 request: Callable[[Callable[[int], Any]], concurrent.futures.Future] | None = None) -> None:
        self._tell = tell
        self._request = request

    def _ask(self, make: Callable[[int], Any]) -> concurrent.futures.Future:
        if self._request is None:
            raise AionError("this EngineHandle cannot wait for answers (it belongs to an actor)")
        return self._request(make)

    def resolve_workflow(self, workflow_id: str) -> Residency:
        return Residency(self._ask(lambda corr: ResolveWorkflow(corr, workflow_id)).result())

    def deliver_workflow_message(self, workflow_id: str, message: MailboxMessage) -> concurrent.futures.Future:
        if isinstance(message, Query):
            answer = self._ask(lambda corr: QueryWorkflow(corr, workflow_id, message.name, message.args))
            _chain(answer, message.reply)
            return message.reply
        if self._request is None:
            self._tell(DeliverToWorkflow(None, workflow_id, message))
            return _resolved()
        return self._ask(lambda corr: DeliverToWorkflow(corr, workflow_id, message))

    def spawn_child_workflow(self, parent_id: str, child_id: str, workflow_type: str, input: Payload,
                             parent_run_id: str | None = None) -> None:
        self._tell(SpawnChild(parent_id, child_id, workflow_type, input, parent_run_id))

    def terminate_linked_child_workflow(self, parent_id: str, child_id: str, reason: str) -> None:
        self._tell(DeliverToWorkflow(None, child_id, ev.WorkflowCancelRequested(reason, parent_id)))

    def terminate_linked_activity(self, workflow_id: str, activity_id: int, reason: str) -> None:
        self._tell(TerminateActivity(workflow_id, activity_id, reason))

    def arm_timer(self, workflow_id: str, timer_id: str, fire_at: datetime) -> None:
        self._tell(ArmTimer(workflow_id, timer_id, fire_at))

    def disarm_timer(self, workflow_id: str, timer_id: str | None) -> None:
        self._tell(DisarmTimer(workflow_id, timer_id))


def _resolved() -> concurrent.futures.Future:
    future: concurrent.futures.Future = concurrent.futures.Future()
    future.set_result(None)
    return future


def _chain(source: concurrent.futures.Future, target: concurrent.futures.Future) -> None:
    def copy(done: concurrent.futures.Future) -> None:
        if target.done():
            return
        if done.exception() is not None:
            target.set_exception(done.exception())
        else:
            target.set_result(done.result())

    source.add_done_callback(copy)
