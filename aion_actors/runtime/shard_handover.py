"""What the engine actor does as its node gains, loses and hands off shards.

The node's membership thread decides (`cluster.membership`); the engine actor
carries it out with these handlers, mixed into `EngineActor`: make a gained
shard's running workflows resident and arm their timers; drop a lost shard's
runs at once (another node may own it already, and the store refuses their
appends anyway); ask a handed-off shard's runs to passivate and say which
shards have none left, so their leases can be released.
"""

from __future__ import annotations

import logging
import time
from typing import Callable

from ..errors import ShardMoved
from .messages import Drain, Passivate, ShardsGained, ShardsLost
from .residency import Asked, Then

log = logging.getLogger("aion_actors.engine")


class ShardHandover:
    """Needs from the actor: `context`, `book`, `send`, `_reply`, `_drop`, `_make_resident`."""

    def _take_over(self, shards: set[int] | None) -> int:
        """Make the running workflows of this node's shards (or of `shards`) resident, arm their timers."""
        resumed = 0
        for summary in self.context.list_active(shards):
            if self.book.is_resident(summary.workflow_id) or summary.status == "paused":
                continue
            self._make_resident(summary.workflow_id)
            resumed += 1
        for row in self.context.all_timers(shards):
            self.context.wheel.arm(row.workflow_id, row.timer_id, row.fire_at)
        return resumed

    def _shards_gained(self, msg: ShardsGained) -> None:
        resumed = self._take_over(set(msg.shards))
        log.info("took shards %s over: %d running workflows resumed", sorted(msg.shards), resumed)

    def _in(self, shards) -> Callable[[str], bool]:
        shard = self.context.ownership.shard
        return lambda workflow_id: shard(workflow_id) in shards

    def _shards_lost(self, msg: ShardsLost) -> None:
        """Their runs' actors stop now; what waited for room there is answered `ShardMoved` (clients
        route it to the new owner). Their timers stay on the heap and are skipped when due."""
        in_lost = self._in(msg.shards)
        for workflow_id in self.book.resident_where(in_lost):
            self._drop(workflow_id)
        for workflow_id in self.book.waiting_where(in_lost):
            self._answer_moved(workflow_id, self.book.take_waiting(workflow_id))
        for workflow_id in self.book.result_waited_where(in_lost):
            for corr in self.book.take_result_waiters(workflow_id):
                self._reply(corr, True)  # "not here": the client follows it in the store

    def _drain(self, msg: Drain) -> None:
        in_draining = self._in(msg.shards)
        busy = self.book.resident_where(in_draining)
        for workflow_id in busy:
            run = self.book.touch(workflow_id, time.monotonic())
            if run.recorder is not None:
                self.send(run.recorder, Passivate(workflow_id))
        shard = self.context.ownership.shard
        self._reply(msg.corr, True, set(msg.shards) - {shard(w) for w in busy})

    def _answer_moved(self, workflow_id: str, waiting: list[Then]) -> None:
        for asked in waiting:
            if isinstance(asked, Asked):
                self._reply(asked.corr, False, ShardMoved(workflow_id), asked.reply_to)

