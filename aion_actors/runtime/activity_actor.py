"""The actor of one activity attempt, linked to its workflow run.

On the in-process runtime it hands the attempt to the thread pool (blocking
code never runs on the thread that drives the actors). On the multi-process
runtime it is a process of its own: the attempt runs on a second thread
there, and the actor polls it for heartbeats and the outcome, so that it
keeps serving its mailbox meanwhile. Either way it reports heartbeats and
the outcome to its parent and then exits. Told to stop (`CancelAttempt`),
it cancels the attempt; in a process of its own, an attempt still running
after the grace period is killed with that process, and its actor told to
exit meanwhile (its run ended) waits out the rest of the grace first.
"""

from __future__ import annotations

import os
import signal
import time
from datetime import timedelta

from thespian.actors import Actor, ActorExitRequest, WakeupMessage

from .activities import InlineActivityRunner, RunningAttempt, attempt_key
from .messages import AttemptDone, CancelAttempt, Heartbeat, RunAttempt
from .process_watch import tell_parent_my_process

# Polling the attempt's thread: quick at first (short activities answer at once), then at most this often.
_FIRST_POLL = 0.001
_MAX_POLL = 0.05
_POLL, _KILL = "poll", "kill"


class ActivityActor(Actor):
    key: tuple | None = None
    running: RunningAttempt | None = None
    kill_at: float | None = None  # monotonic: when an attempt told to stop is killed

    def receiveMessage(self, msg, sender):
        if isinstance(msg, RunAttempt):
            self.parent_run = sender
            context = msg.context.get()
            tell_parent_my_process(self, sender, context)
            self.runner = context.activities
            self.key = attempt_key(msg)
            if isinstance(self.runner, InlineActivityRunner):
                self.running = self.runner.start(msg)
                self.poll_every = _FIRST_POLL
                self._poll()
            else:
                self.runner.submit(self.myAddress, msg)
        elif isinstance(msg, AttemptDone):
            self._finish(msg)
        elif isinstance(msg, Heartbeat):
            self.send(self.parent_run, msg)
        elif isinstance(msg, WakeupMessage) and self.running is not None:
            if msg.payload == _POLL:
                self._poll()
            elif msg.payload == _KILL and self.running.outcome is None:
                # The attempt ignored its cancellation for the whole grace period.
                os.kill(os.getpid(), signal.SIGKILL)
        elif isinstance(msg, CancelAttempt) and self.key is not None:
            self.runner.cancel(self.key, msg.reason or "the attempt's run stopped")
            if self.running is not None and self.kill_at is None:
                self.kill_at = time.monotonic() + self.runner.cancel_grace
                self.wakeupAfter(timedelta(seconds=self.runner.cancel_grace), _KILL)
        elif isinstance(msg, ActorExitRequest) and self.key is not None:
            self.runner.cancel(self.key, "the attempt's run stopped")
            if self.running is not None and self.kill_at is not None:
                # A run that ends tells its attempts to stop, then exits at once, and its attempts'
                # actors with it: exiting now would kill the code before it saw the request,
                # taking the grace it was promised.
                self.running.wait(max(0.0, self.kill_at - time.monotonic()))
            self.runner.forget(self.key)  # stopped with its run: nobody waits for this attempt now

    def _poll(self) -> None:
        for beat in self.running.take_beats():
            self.send(self.parent_run, beat)
        if self.running.outcome is not None:
            self._finish(self.running.outcome)
            return
        self.poll_every = min(self.poll_every * 2, _MAX_POLL)
        self.wakeupAfter(timedelta(seconds=self.poll_every), _POLL)

    def _finish(self, done: AttemptDone) -> None:
        self.runner.forget(self.key)
        self.send(self.parent_run, done)
        self.send(self.myAddress, ActorExitRequest())
