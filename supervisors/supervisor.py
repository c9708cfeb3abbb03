"""`Supervisor`: an actor that starts, watches, restarts and stops its children.

Start one with its spec as the init message::

    sup = system.createActor(Supervisor)
    system.ask(sup, Configure(SupervisorSpec(children=(ChildSpec("w", Start(Worker)),))))

or subclass it and override `Supervisor.init` to build the spec from any init
message (the OTP ``init/1`` callback). A supervisor can be the child of
another (``ChildSpec(..., type="supervisor", shutdown="infinity")``).

Lifecycle:

1. The first message that is not part of the protocol is the init message:
   `init(message)` returns the `SupervisorSpec`, which is validated; the
   children are started one after the other, in order. Starting one is
   ``createActor(start.actor_class)``, then, for a `LinkedActor` subclass,
   `Supervised(me, id, start.message)` and waiting (up to `start_timeout`
   seconds) for its `ChildReady`, which it sends once its init message is
   handled, so a child may rely on the children started before it being
   initialized (as in OTP). Any other actor class is sent ``start.message``
   (if not None) and is not waited for. The sender of the init message gets
   `Configured(ids)`, or a `SupervisorError` ("invalid_spec",
   "start_failed"), after which the supervisor exits with reason
   ``("invalid_spec", text)`` / ``("start_failed", reason)``.
2. A child exit is known from `ChildActorExited`. Its reason is the one the
   child sent in `Exit(reason)` before (`LinkedActor.exit` does this), or
   "killed" if it sent none: a process that died without telling is an
   abnormal exit. `decisions.should_restart` and `decisions.to_restart`
   decide; restarts count against `RestartIntensity`. A child that fails to
   start during a restart counts as one more failure.
3. Stopping a child follows its `shutdown` policy, one child at a time, in
   reverse start order:

   * a number N: send `Shutdown()`, wait up to N seconds (a `wakeupAfter`
     deadline) for it to exit, then force;
   * "infinity": send `Shutdown()` and wait;
   * "brutal_kill": force at once.

   (`Shutdown()` is for `LinkedActor` children; any other actor is sent
   Thespian's `ActorExitRequest` instead, its own polite stop request.)

   *Force* means SIGKILL when the child is a worker that reported a process
   id other than the supervisor's (multiprocess runtimes: each actor is a
   process); otherwise (simpleSystemBase, a child that never reported a
   pid, or a supervisor child, whose own children must go down with it) a
   Thespian `ActorExitRequest`, which an actor stuck in a handler only sees
   once the handler returns. If a forced child has still not exited after
   `force_grace` seconds it is given up for dead (and logged).
4. Too many restarts (intensity exceeded): the supervisor stops every child
   in reverse start order, then exits with reason
   ``"reached_max_restart_intensity"``. That reason is abnormal on purpose
   (OTP uses "shutdown" here), so a parent supervisor restarts or escalates
   even when this supervisor is a transient child.
5. `Shutdown()` (from its own supervisor, or anyone) stops every child in
   reverse start order, then exits with reason "shutdown". A raw
   `ActorExitRequest` cannot wait: the supervisor forces its "brutal_kill"
   children and sends the others `ActorExitRequest`, in reverse start
   order, and Thespian takes it from there.
6. A significant child that ends on its own and is not restarted may end
   the supervisor with reason "shutdown" (`SupervisorSpec.auto_shutdown`).

Requests and child exits are handled one at a time: while children are
being started or stopped, later requests and exits wait their turn, so a
reply never shows a half-done restart (`supervisors._requests` has the
request handlers).

With simple_one_for_one, `StartChild(message=...)` starts a new instance of
the template; instance ids are ``(template_id, n)``. Instances that end and
are not restarted are forgotten.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from thespian.actors import ActorExitRequest, ChildActorExited, WakeupMessage

from . import messages as m
from ._requests import REQUESTS, Child, ChildTable, RequestsMixin
from .decisions import KILLED, SHUTDOWN, RestartIntensity, should_auto_shutdown, should_restart, to_restart
from .links import LinkedActor
from .spec import SpecError, SupervisorSpec, validate

log = logging.getLogger("supervisors")

MAX_INTENSITY = "reached_max_restart_intensity"


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


@dataclass(eq=False)
class _State:
    spec: SupervisorSpec
    intensity: RestartIntensity
    children: ChildTable = field(default_factory=ChildTable)  # in start order
    queue: deque = field(default_factory=deque)  # ("exit", child, generation, reason) | ("request", msg, sender) | ("shutdown",)
    job: Optional[_Job] = None
    tokens: int = 0
    instances: int = 0  # simple_one_for_one ids
    shutting_down: bool = False


class Supervisor(RequestsMixin, LinkedActor):
    """The supervisor behaviour (see the module docstring for the contract).

    Class attributes:
        start_timeout: seconds to wait for a `LinkedActor` child's
            `ChildReady` before starting the next child anyway.
        force_grace: seconds to wait for a forced child to exit before giving
            it up for dead.
    """

    start_timeout = 10.0
    force_grace = 5.0
    _PROTOCOL = {**LinkedActor._PROTOCOL, m.Exit: "_on_child_exit_reason",
                 m.ChildReady: "_on_child_ready"}

    def __init__(self) -> None:
        super().__init__()
        self._s: Optional[_State] = None

    def init(self, message: Any) -> SupervisorSpec:
        """Return the spec to supervise; `message` is the init message.

        Default: ``message`` must be a `Configure`. Override to build the
        spec yourself; raise `SpecError` (or return an invalid spec) to refuse.
        """
        if not isinstance(message, m.Configure):
            raise SpecError("init message", message, "a Configure(SupervisorSpec)")
        return message.spec

    # -- messages -----------------------------------------------------------------------

    def receive(self, msg: Any, sender: Any) -> None:
        if isinstance(msg, ChildActorExited):
            self._on_child_actor_exited(msg.childAddress)
        elif isinstance(msg, WakeupMessage):
            if isinstance(msg.payload, _Deadline):
                self._on_deadline(msg.payload)
        elif isinstance(msg, REQUESTS):
            if self._s is None:
                self._reply(sender, m.SupervisorError(m.NOT_CONFIGURED))
            else:
                self._s.queue.append(("request", msg, sender))
                self._pump()
        elif self._s is None:
            if not isinstance(msg, (m.Configured, m.SupervisorError)):
                self._configure(msg, sender)
        # anything else (replies from child supervisors, PoisonMessage, ...) is ignored

    def _configure(self, msg: Any, sender: Any) -> None:
        try:
            spec = validate(self.init(msg))
        except SpecError as exc:
            self._reply(sender, m.SupervisorError(m.INVALID_SPEC, str(exc)))
            self.exit((m.INVALID_SPEC, str(exc)))
            return
        self._s = _State(spec, RestartIntensity(spec.intensity, spec.period))
        if spec.strategy != "simple_one_for_one":  # there the one spec is a template
            self._s.children = ChildTable(Child(c) for c in spec.children)
        self._run([("start", c.spec.id, False) for c in self._s.children],
                  lambda failed: self._configured(sender, failed), fail_fast=True)

    def _configured(self, sender: Any, failed: list) -> None:
        if not failed:
            self._reply(sender, m.Configured(tuple(c.spec.id for c in self._s.children)))
            return
        # As in OTP: a child that cannot start fails the supervisor's own start.
        child, reason = failed[0]
        self._s.shutting_down = True

        def stopped(_: list) -> None:
            self._reply(sender, m.SupervisorError(m.START_FAILED, f"{child.spec.id!r}: {reason!r}"))
            self.exit((m.START_FAILED, reason))
        self._stop_all(stopped)

    def _reply(self, to: Any, msg: Any) -> None:
        if to is not None and to != self.supervisor:  # our supervisor does not read replies
            self.send(to, msg)

    def _on_child_ready(self, msg: m.ChildReady, sender: Any) -> None:
        child = self._by_address(sender)
        if child is None:
            return
        child.pid = msg.pid
        job = self._s.job
        if job is not None and job.current is child and job.waiting == "start":
            job.current = None
            self._advance()

    def _on_child_exit_reason(self, msg: m.Exit, sender: Any) -> None:
        child = self._by_address(sender)
        if child is not None and child.reason is None:
            child.reason = msg.reason
            self.send(child.address, ActorExitRequest())  # it waits for us to stop it

    def _on_child_actor_exited(self, address: Any) -> None:
        child = self._by_address(address)
        if child is None:
            return  # a duplicate notice, or a child already given up for dead
        reason = KILLED if child.reason is None else child.reason
        self._s.children.unbind(child)
        child.pid, child.reason, child.stopping = None, None, False
        job = self._s.job
        if job is not None and job.current is child:
            if job.waiting == "start":
                job.start_failed(child, reason)
            job.current = None
            self._advance()
        else:
            self._s.queue.append(("exit", child, child.generation, reason))
            self._pump()

    def _on_shutdown(self, msg: m.Shutdown, sender: Any) -> None:
        if self._s is None:
            self.exit(SHUTDOWN)
        elif not self._s.shutting_down:
            self._s.shutting_down = True  # later requests are refused, exits ignored
            self._s.queue.appendleft(("shutdown",))  # after the job in progress, if any
            self._pump()

    def _on_actor_exit_request(self, msg: ActorExitRequest, sender: Any) -> None:
        for child in reversed(self._s.children if self._s else []):
            if child.address is not None:
                if child.spec.shutdown == "brutal_kill":
                    self._force(child)
                else:
                    self.send(child.address, ActorExitRequest())
        super()._on_actor_exit_request(msg, sender)

    # -- one event at a time --------------------------------------------------------------

    def _pump(self) -> None:
        s = self._s
        while s.job is None and s.queue and self.exit_reason is None:
            kind, *args = s.queue.popleft()
            if kind == "shutdown":
                self._stop_all(lambda failed: self.exit(SHUTDOWN))
            elif kind == "request":
                msg, sender = args
                if s.shutting_down:
                    self._reply(sender, m.SupervisorError(m.SHUTTING_DOWN))
                else:
                    self._request(msg, sender)
            elif not s.shutting_down:
                self._child_ended(*args)

    def _child_ended(self, child: Child, generation: int, reason: Any) -> None:
        s = self._s
        if child not in s.children or child.generation != generation or child.address is not None:
            return  # stale: restarted or removed meanwhile
        spec = child.spec
        if not should_restart(spec.restart, reason):
            log.info("child %r exited (%r); not restarted", spec.id, reason)
            if spec.restart == "temporary" or s.spec.strategy == "simple_one_for_one":
                s.children.remove(child)
            if s.spec.auto_shutdown != "never" and should_auto_shutdown(
                    s.spec.auto_shutdown, spec.significant,
                    [c for c in s.children if c.spec.significant and c.address is not None]):
                s.shutting_down = True
                self._stop_all(lambda failed: self.exit(SHUTDOWN))
            return
        if not s.intensity.record(time.monotonic()):
            log.error("child %r exited (%r): more than %d restarts in %ss; escalating",
                      spec.id, reason, s.spec.intensity, s.spec.period)
            s.shutting_down = True
            self._stop_all(lambda failed: self.exit(MAX_INTENSITY))
            return
        log.warning("child %r exited (%r); restarting (%s)", spec.id, reason, s.spec.strategy)
        considered = [c.spec for c in s.children if c.address is not None or c is child]
        stop_ids, restart_ids = to_restart(s.spec.strategy, considered, spec.id)
        steps = [("stop", i) for i in stop_ids] + [("start", i, True) for i in restart_ids]
        self._run(steps, lambda failed: self._restarted(stop_ids, restart_ids, failed))

    def _restarted(self, stopped: tuple, restarted: tuple, failed: list) -> None:
        s = self._s
        for child_id in stopped:  # temporary siblings stopped on another's account are gone
            child = self._by_id(child_id)
            if child is not None and child.spec.restart == "temporary" and child_id not in restarted:
                s.children.remove(child)
        for child, reason in failed:  # one more failure each: retried, then escalated
            s.queue.append(("exit", child, child.generation, (m.START_FAILED, reason)))

    # -- starting and stopping, one child at a time -------------------------------------

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
                    self._wait(job, child, "start", self.start_timeout)
                    return
        s.job = None
        job.then(job.failed)
        if self.exit_reason is None:
            self._pump()

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
        child.pid, child.reason, child.stopping = None, None, False
        child.generation += 1
        if issubclass(start.actor_class, LinkedActor):
            self.send(address, m.Supervised(self.myAddress, child.spec.id, start.message, os.getpid()))
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
            child.address, child.pid, child.stopping, job.current = None, None, False, None
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
