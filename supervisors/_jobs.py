"""Starting and stopping a supervisor's children, one at a time (private).

`Supervisor` mixes `JobsMixin` in. A `_Job` is a list of steps ("start" or
"stop" one child) carried out in order; while one child is awaited (its
`ChildReady` after a start, its exit after a stop), the supervisor handles
nothing else but the messages that end that wait, so a reply never shows a
half-done restart. When the steps run out, ``then(failed)`` gets the starts
that failed.
"""

from __future__ import annotations

import logging
import os
import signal
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from thespian.actors import ActorExitRequest

from . import messages as m
from ._protocol import Supervised
from ._requests import Child
from .links import LinkedActor

log = logging.getLogger("supervisors")


@dataclass(eq=False)
class _Job:
    """Children to start or stop one after the other, then `then(failed_starts)`."""

    steps: deque  # ("stop", id) | ("start", id, is_restart)
    then: Callable[[list], None]  # gets [(child, reason)] of the starts that failed
    current: Optional[Child] = None  # the child being waited for
    waiting: str = ""  # "start" (for ChildReady) or "stop" (for its exit)
    token: int = 0  # tells this wait's deadlines from stale ones
    failed: list = field(default_factory=list)
    fail_fast: bool = False  # a failed start drops the remaining steps

    def start_failed(self, child: Child, reason: Any) -> None:
        self.failed.append((child, reason))
        if self.fail_fast:
            self.steps.clear()


@dataclass(frozen=True, slots=True)
class _Deadline:
    token: int
    kind: str  # "start", "stop" (then force) or "forced" (then give up)


class JobsMixin:
    """`_run(steps, then)` and what it needs (needs a `Supervisor`)."""

    def _run(self, steps, then: Callable[[list], None], fail_fast: bool = False) -> None:
        self._s.job = _Job(deque(steps), then, fail_fast=fail_fast)
        self._advance()

    def _stop_all(self, then: Callable[[list], None]) -> None:
        self._run([("stop", c.spec.id) for c in reversed(self._s.children) if c.address is not None],
                  then)

    def _advance(self) -> None:
        s = self._s
        job = s.job
        while job.steps:
            kind, child_id, *restart = job.steps.popleft()
            child = self._by_id(child_id)
            if kind == "stop" and child is not None and child.address is not None:
                self._stop_one(job, child)
                return
            if kind == "start" and child is not None and child.address is None and not s.shutting_down:
                child.restarts += bool(restart[0])
                error = self._start(child)
                if error is not None:
                    job.start_failed(child, error)
                elif issubclass(child.spec.start.actor_class, LinkedActor):
                    self._wait(job, child, "start", self._start_deadline(child))
                    return
        s.job = None
        job.then(job.failed)
        if self.exit_reason is None:
            self._pump()

    def _start_deadline(self, child: Child) -> Any:
        # A supervisor child answers once its own children started (as OTP's
        # start_link returns): as long as their own start deadlines add up to.
        if getattr(child.spec.start.actor_class, "_ready_after_children", False):
            return "infinity"
        return self.start_timeout

    def _wait(self, job: _Job, child: Child, waiting: str, seconds: Any) -> None:
        self._s.tokens += 1
        job.current, job.waiting, job.token = child, waiting, self._s.tokens
        if seconds != "infinity":
            self.wakeupAfter(seconds, _Deadline(job.token, waiting))

    def _start(self, child: Child) -> Optional[str]:
        """Create the child and send it its init message; None if that went well."""
        start = child.spec.start
        try:
            address = self.createActor(start.actor_class)
        except Exception as exc:
            log.error("cannot start child %r: %r", child.spec.id, exc)
            return f"{type(exc).__name__}: {exc}"
        self._s.children.bind(child, address)
        child.pid, child.reason, child.stopping, child.restarting = None, None, False, False
        child.generation += 1
        if issubclass(start.actor_class, LinkedActor):
            self.send(address, Supervised(self.myAddress, child.spec.id, start.message, os.getpid()))
        elif start.message is not None:
            self.send(address, start.message)
        return None

    def _stop_one(self, job: _Job, child: Child) -> None:
        child.stopping = True
        policy = child.spec.shutdown
        if policy == "brutal_kill":
            self._force(child)
            self._wait(job, child, "forced", self.force_grace)
            return
        polite = m.Shutdown() if issubclass(child.spec.start.actor_class, LinkedActor) \
            else ActorExitRequest()
        self.send(child.address, polite)
        self._wait(job, child, "stop", policy)

    def _on_deadline(self, deadline: _Deadline) -> None:
        job = self._s.job if self._s else None
        if job is None or job.token != deadline.token or job.current is None:
            return  # stale: that child answered in time
        child = job.current
        if deadline.kind == "start":
            log.warning("child %r not ready after %ss; starting the next", child.spec.id,
                        self.start_timeout)
            job.current = None
        elif deadline.kind == "stop":
            log.warning("child %r did not stop within %ss; forcing", child.spec.id, child.spec.shutdown)
            self._force(child)
            self._wait(job, child, "forced", self.force_grace)
            return
        else:
            log.error("child %r did not exit %ss after being forced; giving it up for dead",
                      child.spec.id, self.force_grace)
            self._s.children.unbind(child)
            child.pid, child.stopping, job.current = None, False, None
        self._advance()

    def _force(self, child: Child) -> None:
        pid = child.pid
        if pid is not None and pid != os.getpid() and child.spec.type == "worker":
            try:
                os.kill(pid, signal.SIGKILL)
                return
            except ProcessLookupError:
                pass  # already gone; Thespian will tell
            except OSError as exc:
                log.warning("cannot kill child %r (pid %d): %r", child.spec.id, pid, exc)
        self.send(child.address, ActorExitRequest())
