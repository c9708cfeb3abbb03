"""`Router`: what this node's actors send to workflows of shards other nodes own.

A run signalling another workflow, a child's outcome for its parent, a
parent starting or cancelling a child: when the target's shard is not ours,
the message becomes a request in the store's inbox addressed to that shard
(durable from the moment it is put), and its owner's request server
performs it through its own engine, as it would a client's. Actors never
block: a few threads here wait for the answers and hand them back to the
asking run as the `ClientReply` it would have had from a local delivery.
"""

from __future__ import annotations

import concurrent.futures
import logging
from typing import Any, Callable


from .. import events as ev
from ..errors import AionError, NoWorkerAnswered
from ..payload import Payload
from .messages import ClientReply, SpawnChild

log = logging.getLogger("aion_actors.cluster")

# A routed message waits this long for the shard's owner (a dead owner's shard is taken over
# within a lease timeout; the store keeps the request meanwhile).
WAIT_FOR_OWNER = 3600.0


def deliver_body(event: ev.Event) -> dict[str, Any]:
    return {"event": event.type_name, "data": ev.encode_event(event)}


def delivered_event(body: dict[str, Any]) -> ev.Event:
    return ev.decode_event(body["event"], body["data"])


def spawn_body(msg: SpawnChild) -> dict[str, Any]:
    return {"parent": msg.parent_workflow_id, "type": msg.workflow_type, "parent_run_id": msg.parent_run_id,
            "content_type": msg.input.content_type, "input": msg.input.data}


def spawned(workflow_id: str, body: dict[str, Any]) -> SpawnChild:
    return SpawnChild(body["parent"], workflow_id, body["type"], Payload(body["content_type"], body["input"]),
                      body["parent_run_id"])


class Router:
    """Sends this node's messages for other nodes' workflows through the request inbox.

    Args:
        call: `Runtime.call`: put a request for the workflow's owner, wait for its answer.
        tell: hands a reply to an actor of this node (the driver's `tell`).
        threads: answers waited for at once.
    """

    def __init__(self, call: Callable[..., Any], tell: Callable[[Any, Any], None], threads: int = 8) -> None:
        self._call = call
        self._tell = tell
        self._pool = concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="aion-route")

    def deliver(self, workflow_id: str, event: ev.Event, reply_to: Any = None, corr: Any = None) -> None:
        self._pool.submit(self._send, "deliver", workflow_id, deliver_body(event), reply_to, corr)

    def spawn(self, msg: SpawnChild) -> None:
        self._pool.submit(self._send, "spawn", msg.child_workflow_id, spawn_body(msg), None, None)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _send(self, kind: str, workflow_id: str, body: dict, reply_to: Any, corr: Any) -> None:
        try:
            self._call(kind, workflow_id, body, WAIT_FOR_OWNER)
            ok, value = True, None
        except NoWorkerAnswered as exc:
            log.error("no node answered a %s for workflow %s within %.0f s: %s", kind, workflow_id,
                      WAIT_FOR_OWNER, exc)
            return
        except AionError as exc:  # WorkflowNotFound, NotRunning: the answer a local delivery would give
            ok, value = False, exc
        except Exception:  # the store failed: the sender retries when its run is rebuilt
            log.exception("could not route a %s for workflow %s", kind, workflow_id)
            return
        if reply_to is not None and corr is not None:
            self._tell(reply_to, ClientReply(corr, ok, value))
