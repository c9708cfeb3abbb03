"""The actor of one activity attempt, linked to its workflow run.

It hands the attempt to the activity runner (so blocking code never runs on
the thread that drives the actors) and reports the outcome to its parent.
"""

from __future__ import annotations

from thespian.actors import Actor, ActorExitRequest

from .activities import attempt_key
from .messages import AttemptDone, CancelAttempt, Heartbeat, RunAttempt


class ActivityActor(Actor):
    key: tuple | None = None

    def receiveMessage(self, msg, sender):
        if isinstance(msg, RunAttempt):
            self.parent_run = sender
            self.runner = msg.context.activities
            self.key = attempt_key(msg)
            self.runner.submit(self.myAddress, msg)
        elif isinstance(msg, AttemptDone):
            self.runner.forget(self.key)
            self.send(self.parent_run, msg)
            self.send(self.myAddress, ActorExitRequest())
        elif isinstance(msg, Heartbeat):
            self.send(self.parent_run, msg)
        elif isinstance(msg, (CancelAttempt, ActorExitRequest)) and self.key is not None:
            self.runner.cancel(self.key)
