"""The `RequestInbox` contract: a queue of commands for whoever serves the workflows.

A process that does not run the engine (the `aion` CLI) cannot append to the
histories the engine writes. It puts a `Request` in the inbox; an engine
serving the same store claims it, performs it and answers; the client reads
the answer. The inbox keeps `kind` and `body` opaque, as an `EventStore`
keeps event data: the engine's request server and the CLI agree on their
meaning.

In a cluster, each request is addressed to the shard of its workflow
(`stores.leases.shard_of` over the store's `shard_count()`), and the node
owning that shard claims it; a request about no workflow has no shard and
goes to whoever claims first. A node found dead gives its claims back
(`release_claims`), so the next owner of the shard serves them.

The bundled stores (`InMemoryStore`, `SqlStore`) implement this, `EventStore`
and `ShardLeases`, on the same database; an inbox routes by the store's shard
count, so an inbox of your own also needs `ShardLeases.shard_count()`. A
store of your own may implement only `EventStore`; an engine on it then
cannot serve requests. Check an inbox of your own with
`stores.conformance_requests.RequestInboxConformance`.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable


@dataclass(frozen=True, slots=True)
class Request:
    """One entry of the inbox, as it stands when read.

    `claimed_by` is `None` until a server claims it; `answered` turns true
    with the server's `reply` (or `error`, a text the client decodes).
    `shard` is the workflow's shard, `None` for a request about no workflow.
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
    shard: int | None = None


class RequestInbox(abc.ABC):
    """Requests put by clients, claimed and answered by servers, read back by their clients.

    A request goes through: put (unclaimed) → claimed by one server →
    answered → deleted when its client reads the answer. A client that gives
    up withdraws an unclaimed request; the claims of a server found dead are
    released, unclaiming what it left unanswered; `prune_requests` clears
    what a dead client or server left behind. Every method may raise
    `StoreError` when the backend fails; clients and servers may be in other
    processes.
    """

    @abc.abstractmethod
    def put_request(self, kind: str, workflow_id: str | None, body: bytes) -> int:
        """Queue a request, unclaimed and unanswered, stamped `created_at` now (UTC).

        Its `shard` is `shard_of(workflow_id, self.shard_count())`, or `None`
        when `workflow_id` is `None`.

        Returns:
            Its id, greater than the id of every request put before it,
            deleted ones included: an id is never handed out twice, so a
            client polling a request that was pruned never reads another's
            answer.

        Raises:
            StoreError: `kind` is not a non-empty string, `workflow_id` is
                neither a string nor `None`, or `body` is not bytes; nothing
                is queued.
        """

    @abc.abstractmethod
    def claim_requests(self, claimer: str, limit: int, shards: Iterable[int] | None = None) -> list[Request]:
        """Mark up to `limit` unclaimed requests as `claimer`'s and return them, oldest first.

        With `shards`, only requests addressed to one of them, or to no shard
        (about no workflow), are claimed: the owner of some shards passes
        those it owns; an empty collection claims only the requests about no
        workflow. Atomic: two claimers, in any threads or processes, never
        get the same request. `[]` when none is waiting.

        Raises:
            StoreError: `claimer` is not a non-empty string, `limit` is not
                an int >= 1, or `shards` is neither `None` nor a collection
                of ints in `[0, shard_count())`; nothing is claimed.
        """

    @abc.abstractmethod
    def release_claims(self, claimer: str) -> int:
        """Unclaim every request `claimer` claimed and has not answered, so that another can claim it.

        Called for a server found dead: its requests go back to the inbox
        and the next owner of their shard serves them. Answered requests
        keep their answer.

        Returns:
            How many requests were unclaimed.

        Raises:
            StoreError: `claimer` is not a non-empty string.
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

    def request_notices(self) -> Any:
        """A listener that hears of requests as they are put, or None when this inbox has none.

        Optional (the default is None): a server then polls. The listener's
        `wait(timeout)` returns the shards of the requests put since its last
        call (None for a request about no workflow), empty after `timeout`
        seconds; its `close()` may be called from another thread. The bundled
        PostgreSQL store has one (LISTEN/NOTIFY); a hint only, never the truth.
        """
        return None

    def close(self) -> None:
        """Release connections; the inbox is unusable afterwards. Closing twice is harmless."""
