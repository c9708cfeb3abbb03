"""The actor of one activity attempt, linked to its workflow run.

On the in-process runtime it hands the attempt to the thread pool (blocking
code never runs on the thread that drives the actors); on the multi-process
runtime it is a process of its own and runs the attempt itself. Either way
it reports heartbeats and the outcome to its parent and then exits.
"""

from __future__ import annotations

from thespian.actors import Actor, ActorExitRequest

from .activities import InlineActivityRunner, attempt_key
from .messages import AttemptDone, CancelAttempt, Heartbeat, RunAttempt


class ActivityActor(Actor):
    key: tuple | None = None

    def receiveMessage(self, msg, sender):
        if isinstance(msg, RunAttempt):
            self.parent_run = sender
            self.runner = msg.context.get().activities
            self.key = attempt_key(msg)
            if isinstance(self.runner, InlineActivityRunner):
                done = self.runner.run(msg, lambda beat: self.send(sender, beat))
                self.send(sender, done)
                self.send(self.myAddress, ActorExitRequest())
            else:
                self.runner.submit(self.myAddress, msg)
        elif isinstance(msg, AttemptDone):
            self.runner.forget(self.key)
            self.send(self.parent_run, msg)
            self.send(self.myAddress, ActorExitRequest())
        elif isinstance(msg, Heartbeat):
            self.send(self.parent_run, msg)
        elif isinstance(msg, CancelAttempt) and self.key is not None:
            self.runner.cancel(self.key)
        elif isinstance(msg, ActorExitRequest) and self.key is not None:
            # Stopped with its run (the run ended, or was rebuilt): nobody waits for this attempt now.
            self.runner.cancel(self.key)
            self.runner.forget(self.key)
