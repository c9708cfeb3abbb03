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
   (if not None) and is not waited for. A child supervisor answers only
   once its own children have started (no deadline: theirs apply), so a
   grandchild that cannot start fails the whole start (OTP's ``{error,
   {shutdown, ...}}``). A child that calls `LinkedActor.ignore` while
   handling its init message is not started and the supervisor carries on
   (OTP's ``ignore``): a temporary one is forgotten, any other kept,
   stopped. The sender of the init message gets `Configured(ids)`, or a
   `SupervisorError` ("invalid_spec", "init_failed" when `init` raised,
   "start_failed"), after which the supervisor exits with reason
   ``("invalid_spec", text)`` / ``("init_failed", text)`` /
   ``("start_failed", reason)``.
2. A child exit is known from `ChildActorExited`. Its reason is the one the
   child sent in `Exit(reason)` before (`LinkedActor.exit` does this), or
   "killed" if it sent none: a process that died without telling is an
   abnormal exit. `decisions.should_restart` and `decisions.to_restart`
   decide; restarts count against `RestartIntensity`. one_for_all and
   rest_for_one restart every non-temporary child in scope, the stopped
   ones included (OTP's ``tree`` case). A restart that fails (the child
   cannot start) leaves the child "restarting" (`ChildStatus.restarting`)
   and is retried `retry_delay` seconds later, requests being served in
   between; each retry counts against the intensity (OTP's
   ``try_again_restart``).

   Thespian's `ChildActorExited` is not the only death notice: on the
   multiprocess bases it is lost when several children die at once, and
   never sent on multiprocQueueBase. Each child that reported a process id
   other than the supervisor's is watched (`LinkedActor.watch_process`), so
   a process that died unannounced is still counted, as reason "killed".
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
are not restarted are forgotten. `CountChildren` counts one spec there.

Deliberate differences from OTP's ``supervisor``:

- Children are addressed by id everywhere, simple_one_for_one instances
  included (``(template_id, n)``), since Thespian addresses are not stable
  keys across processes; OTP takes their pid.
- A worker that does not answer its start (no `ChildReady` within
  `start_timeout`) is not a failure: the next child is started and the
  slow one supervised as usual, where OTP's start would wait for ever; a
  stuck init message must not stall a whole tree.
- Reaching the restart intensity exits with the abnormal reason
  "reached_max_restart_intensity", not "shutdown" (see 4 above).
- `init` has no ``ignore`` answer (OTP's sup_start_ignore_init): a
  supervisor with nothing to do is given a spec with no children, since
  its actor exists already once anyone can send it an init message.
- A failed restart is retried after `retry_delay` seconds, where OTP casts
  the retry to itself at once: on the in-process runtime every actor runs
  in one thread, which an immediate retry loop would hold until the
  intensity ran out, and a ``tell`` there only returns once no message is
  pending.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Optional

from thespian.actors import ActorExitRequest, ChildActorExited, WakeupMessage

from . import messages as m
from ._decisions import (IGNORE, KILLED, SHUTDOWN, RestartIntensity, should_auto_shutdown, should_restart,
                         to_restart)
from ._jobs import JobsMixin, _Deadline, _Job
from ._protocol import ChildReady, Exit
from ._requests import REQUESTS, Child, ChildTable, RequestsMixin
from .links import LinkedActor
from .spec import SpecError, SupervisorSpec, _validate

log = logging.getLogger("supervisors")

MAX_INTENSITY = "reached_max_restart_intensity"


@dataclass(frozen=True, slots=True)
class _TryAgain:
    """Wakeup payload: retry the restart of `child_id` that failed (OTP's try_again_restart)."""

    child_id: Any
    generation: int
    reason: Any  # why the last start failed


@dataclass(eq=False)
class _State:
    spec: SupervisorSpec
    intensity: RestartIntensity
    children: ChildTable = field(default_factory=ChildTable)  # in start order
    # ("exit", child, generation, reason) | ("retry", id, generation, reason)
    # | ("request", msg, sender) | ("shutdown",)
    queue: deque = field(default_factory=deque)
    job: Optional[_Job] = None
    tokens: int = 0
    instances: int = 0  # simple_one_for_one ids
    shutting_down: bool = False


class Supervisor(JobsMixin, RequestsMixin, LinkedActor):
    """The supervisor behaviour (see the module docstring for the contract).

    Class attributes:
        start_timeout: seconds to wait for a `LinkedActor` child's
            `ChildReady` before starting the next child anyway.
        force_grace: seconds to wait for a forced child to exit before giving
            it up for dead.
        retry_delay: seconds between a failed restart and the next try.
    """

    start_timeout = 10.0
    force_grace = 5.0
    retry_delay = 0.1
    _ready_after_children = True
    _PROTOCOL = {**LinkedActor._PROTOCOL, Exit: "_on_child_exit_reason", ChildReady: "_on_child_ready"}

    def __init__(self) -> None:
        super().__init__()
        self._s: Optional[_State] = None

    def init(self, message: Any) -> SupervisorSpec:
        """Return the spec to supervise; `message` is the init message.

        Default: ``message`` must be a `Configure`. Override to build the
        spec yourself; raise `SpecError` (or return an invalid spec) to refuse.
        Any other exception fails the start with code "init_failed".
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
            elif isinstance(msg.payload, _TryAgain) and self._s is not None:
                again = msg.payload
                self._s.queue.append(("retry", again.child_id, again.generation, again.reason))
                self._pump()
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

    def _ready_now(self) -> bool:
        return self._s is None  # else `_configured` says when its children are up

    def _configure(self, msg: Any, sender: Any) -> None:
        try:
            spec = _validate(self.init(msg))
        except SpecError as exc:
            self._refuse(sender, m.INVALID_SPEC, str(exc))
            return
        except Exception as exc:  # OTP: init/1 failing is {error, Reason} to the caller
            log.exception("%s.init failed", type(self).__name__)
            self._refuse(sender, m.INIT_FAILED, f"{type(exc).__name__}: {exc}")
            return
        self._s = _State(spec, RestartIntensity(spec.intensity, spec.period))
        if spec.strategy != "simple_one_for_one":  # there the one spec is a template
            self._s.children = ChildTable(Child(c) for c in spec.children)
        self._run([("start", c.spec.id, False) for c in self._s.children],
                  lambda failed: self._configured(sender, failed), fail_fast=True)

    def _refuse(self, sender: Any, code: str, detail: str) -> None:
        self._reply(sender, m.SupervisorError(code, detail))
        self.exit((code, detail))

    def _configured(self, sender: Any, failed: list) -> None:
        if not failed:
            for child in list(self._s.children):  # ignored: temporary ones leave no trace
                if child.address is None and child.spec.restart == "temporary":
                    self._s.children.remove(child)
            self._reply(sender, m.Configured(tuple(c.spec.id for c in self._s.children)))
            self._send_ready()
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

    def _on_child_ready(self, msg: ChildReady, sender: Any) -> None:
        child = self._by_address(sender)
        if child is None:
            return
        child.pid = msg.pid
        if msg.pid is not None and msg.pid != os.getpid():
            # `sender`, not `child.address`: the address createActor returned may be a
            # local stand-in, which the death notice we would send ourselves cannot carry.
            self.watch_process(sender, msg.pid)
        job = self._s.job
        if job is not None and job.current is child and job.waiting == "start":
            job.current = None
            self._advance()

    def _on_child_exit_reason(self, msg: Exit, sender: Any) -> None:
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
            if job.waiting == "start" and reason != IGNORE:
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
            elif s.shutting_down:
                continue
            elif kind == "retry":
                child = self._by_id(args[0])
                if child is not None and child.restarting and child.generation == args[1]:
                    self._child_ended(child, args[1], (m.START_FAILED, args[2]))
            else:
                self._child_ended(*args)

    def _child_ended(self, child: Child, generation: int, reason: Any) -> None:
        s = self._s
        if child not in s.children or child.generation != generation or child.address is not None:
            return  # stale: restarted or removed meanwhile
        spec = child.spec
        if reason == IGNORE or not should_restart(spec.restart, reason):
            log.info("child %r exited (%r); not restarted", spec.id, reason)
            if spec.restart == "temporary" or s.spec.strategy == "simple_one_for_one":
                s.children.remove(child)
            if reason != IGNORE and s.spec.auto_shutdown != "never" and should_auto_shutdown(
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
        child.restarting = False
        stop_ids, restart_ids = to_restart(s.spec.strategy, [c.spec for c in s.children], spec.id)
        steps = [("stop", i) for i in stop_ids] + [("start", i, True) for i in restart_ids]
        self._run(steps, lambda failed: self._restarted(stop_ids, restart_ids, failed), fail_fast=True)

    def _restarted(self, stopped: tuple, restarted: tuple, failed: list) -> None:
        s = self._s
        for child_id in stopped:  # temporary siblings stopped on another's account are gone
            child = self._by_id(child_id)
            if child is not None and child.spec.restart == "temporary" and child_id not in restarted:
                s.children.remove(child)
        for child, reason in failed:  # "restarting": retried later, requests served meanwhile
            log.error("child %r failed to restart (%r); trying again", child.spec.id, reason)
            child.restarting = True
            self.wakeupAfter(self.retry_delay, _TryAgain(child.spec.id, child.generation, reason))
