"""The `RequestInbox` contract: a queue of commands for whoever serves the workflows.

A process that does not run the engine (the `aion` CLI) cannot append to the
histories the engine writes. It puts a `Request` in the inbox; an engine
serving the same store claims it, performs it and answers; the client reads
the answer. The inbox keeps `kind` and `body` opaque, as an `EventStore`
keeps event data: the engine's request server and the CLI agree on their
meaning.

The bundled stores (`InMemoryStore`, `SqlStore`) implement both this and
`EventStore`, on the same database. A store of your own may implement only
`EventStore`; an engine on it then cannot serve requests. Check an inbox of
your own with `stores.conformance_requests.RequestInboxConformance`.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Request:
    """One entry of the inbox, as it stands when read.

    `claimed_by` is `None` until a server claims it; `answered` turns true
    with the server's `reply` (or `error`, a text the client decodes).
    """

    id: int
    kind: str
    workflow_id: str | None
    body: bytes
    created_at: datetime
    claimed_by: str | None = None
    answered: bool = False
    reply: bytes | None = None
    error: str | None = None


class RequestInbox(abc.ABC):
    """Requests put by clients, claimed and answered by servers, read back by their clients.

    A request goes through: put (unclaimed) → claimed by one server →
    answered → deleted when its client reads the answer. A client that gives
    up withdraws an unclaimed request; `prune_requests` clears what a dead
    client or server left behind. Every method may raise `StoreError` when
    the backend fails; clients and servers may be in other processes.
    """

    @abc.abstractmethod
    def put_request(self, kind: str, workflow_id: str | None, body: bytes) -> int:
        """Queue a request, unclaimed and unanswered, stamped `created_at` now (UTC).

        Returns:
            Its id, greater than the id of every request put before it.

        Raises:
            StoreError: `kind` is not a non-empty string, `workflow_id` is
                neither a string nor `None`, or `body` is not bytes; nothing
                is queued.
        """

    @abc.abstractmethod
    def claim_requests(self, claimer: str, limit: int) -> list[Request]:
        """Mark up to `limit` unclaimed requests as `claimer`'s and return them, oldest first.

        Atomic: two claimers, in any threads or processes, never get the same
        request. `[]` when none is waiting.

        Raises:
            StoreError: `claimer` is not a non-empty string or `limit` is not
                an int >= 1.
        """

    @abc.abstractmethod
    def answer_request(self, request_id: int, reply: bytes | None = None, error: str | None = None) -> bool:
        """Record the outcome of a request (`answered` turns true).

        Returns:
            False when the request no longer exists (withdrawn, pruned, or
            its answer already read); True otherwise.
        """

    @abc.abstractmethod
    def get_request(self, request_id: int) -> Request | None:
        """The request as it stands, or `None` when it does not exist.

        An answered request is deleted as it is returned, so its answer is
        read exactly once; an unanswered one stays.
        """

    @abc.abstractmethod
    def withdraw_request(self, request_id: int) -> bool:
        """Delete the request if nobody has claimed it yet.

        Returns:
            True when it was deleted; False when it was claimed (it stays) or
            does not exist.
        """

    @abc.abstractmethod
    def prune_requests(self, created_before: datetime) -> int:
        """Delete the requests created before that (aware) instant, whatever their state.

        They are left-overs: a client that gave up, or a server that died
        holding them.

        Returns:
            How many were deleted.
        """

    def close(self) -> None:
        """Release connections; the inbox is unusable afterwards. Closing twice is harmless."""
