"""The actor of one activity attempt that runs on a task queue, in another engine.

The run supervises it exactly as it supervises a local attempt's actor (see
`activity_actor`): it gets `RunAttempt`, answers with `Heartbeat`s and one
`AttemptDone`, and is told `CancelAttempt`. Instead of running code it puts
the attempt in the store as a task and lets the node's `TaskWatcher` tell it
what became of it: heartbeats as the task's `beats` grow, the outcome once
it is finished, a worker death once its claim is lost. Told to stop, it asks
the store to cancel the task (its worker's next renewal answers "cancel")
and leaves the watcher to delete it once it is over.
"""

from __future__ import annotations

import logging

from thespian.actors import Actor, ActorExitRequest

from stores.errors import StoreError

from ..errors import Failure
from .messages import AttemptDone, CancelAttempt, Heartbeat, RunAttempt
from .task_codec import new_task

log = logging.getLogger("aion_actors.tasks")


class RemoteAttemptActor(Actor):
    task_id: int | None = None
    over = False  # its outcome was relayed, or it was told to stop

    def receiveMessage(self, msg, sender):
        if isinstance(msg, RunAttempt):
            self._put(msg, sender)
        elif isinstance(msg, Heartbeat) and not self.over:
            self.send(self.parent_run, msg)
        elif isinstance(msg, AttemptDone) and not self.over:
            self.over = True
            self.send(self.parent_run, msg)
            self.send(self.myAddress, ActorExitRequest())
        elif isinstance(msg, (CancelAttempt, ActorExitRequest)):
            self._stop(msg)

    def _put(self, msg: RunAttempt, sender) -> None:
        self.parent_run = sender
        context = msg.context.get()
        self.store, self.watcher = context.store, context.task_watcher
        queue, priority, partition_key = msg.placement
        if self.watcher is None:
            self.over = True
            self.send(sender, AttemptDone(msg.activity_id, msg.attempt, failure=Failure(
                "TaskQueuesUnavailable", f"attempt {msg.attempt} of {msg.activity_type!r} is on task queue {queue!r}, "
                f"which this engine cannot follow (task queues need runtime='inprocess' owners and a store with "
                f"task queues, as every bundled store has)", non_retryable=True)))
            self.send(self.myAddress, ActorExitRequest())
            return
        try:
            # A later attempt may follow one that an earlier owner (or this one, before a restart) put
            # and no watcher follows now: the put supersedes it; the watcher deletes it once it is over.
            earlier = [t.id for t in self.store.unfinished_tasks(msg.workflow_id)
                       if t.run_id == msg.run_id and t.activity_id == str(msg.activity_id)
                       and t.attempt < msg.attempt] if msg.attempt > 1 else []
            self.task_id = self.store.put_task(new_task(msg, msg.run_id, queue, priority, partition_key))
        except StoreError as exc:
            # Retryable: the run's retry policy decides, as for any failed attempt.
            self.over = True
            self.send(sender, AttemptDone(msg.activity_id, msg.attempt, failure=Failure(
                "StoreError", f"could not put attempt {msg.attempt} on task queue {queue!r}: {exc}")))
            self.send(self.myAddress, ActorExitRequest())
            return
        self.watcher.watch(self.task_id, self.myAddress, msg.activity_id, msg.attempt)
        if earlier:
            self.watcher.sweep(earlier)

    def _stop(self, msg) -> None:
        if self.task_id is not None and not self.over:
            self.over = True
            try:
                self.store.cancel_task(self.task_id)
            except StoreError:
                log.exception("could not cancel task %s; its worker finds out when its claim is lost", self.task_id)
            self.watcher.abandon(self.task_id)
        if isinstance(msg, CancelAttempt):
            self.send(self.myAddress, ActorExitRequest())
