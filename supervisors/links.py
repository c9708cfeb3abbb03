"""Links, monitors and exit reasons for Thespian actors: the `LinkedActor` base class.

Thespian has no links, monitors or exit reasons. An actor that subclasses
`LinkedActor` gets them, built from explicit messages plus Thespian's
`ChildActorExited` (the only death notice Thespian gives, and only to the
parent):

- ``self.exit(reason)`` ends the actor with a reason: it runs `terminate`,
  sends `ExitSignal(me, reason)` to every linked actor and `Down(ref, me,
  reason)` to every watcher; then, if it is supervised, it sends `Exit(reason)`
  to its supervisor and waits to be stopped (the supervisor stops it at
  once; after `exit_grace` seconds it stops itself anyway); otherwise it
  stops itself at once.
- An exception escaping `receive` is a crash: ``exit(("exception", "Type:
  text"))`` (set `crash_on_exception = False` to get Thespian's own
  retry-then-PoisonMessage behaviour instead).
- ``self.link(other)`` links both ways. When one ends, the other gets an
  `ExitSignal`: a "normal" reason is ignored; any other reason ends the
  receiver with that same reason, unless it traps exits (``trap_exit =
  True``), in which case the `ExitSignal` is delivered to `receive`.
- ``ref = self.monitor(other)`` asks `other` for a `Down(ref, other, reason)`
  when it ends; ``self.demonitor(ref)`` cancels. `Down` is always delivered
  to `receive`.
- A linked or monitored *child* (an actor this one created) that dies
  without telling (SIGKILL, a process crash) is reported as reason "killed",
  synthesized from `ChildActorExited`. Thespian may not send that notice
  (several children SIGKILLed at once on multiprocTCPBase; any death on
  multiprocQueueBase): ``self.watch_process(child, pid)`` makes the actor
  check every `liveness_check` seconds that the child's process still runs,
  and deliver a `ChildActorExited` of its own when it does not (once: the
  late Thespian notice, if any, is dropped). A plain Thespian `Actor` gets
  the same watch from the `ProcessWatcher` mixin.
- ``self.ignore()``, while handling the init message of a supervised actor,
  declines to start (OTP's ``ignore`` from a start function): the
  supervisor carries on without it and does not restart it.
- A raw Thespian `ActorExitRequest` (from the system shutting down, a parent
  ending, or a supervisor forcing a stop) ends the actor with reason
  "shutdown": `terminate` runs and links and monitors are told; the
  supervisor is not (if it did not send it, it counts the exit as "killed").

- A supervised child in another process than its supervisor checks every
  `orphan_check` seconds that the supervisor is still its parent process; a
  SIGKILLed supervisor's children would otherwise run on as orphans (Thespian
  tells them nothing). They end with reason "orphaned".

Honest limits: a *non-child* peer that dies without telling (SIGKILL) is
never reported, since Thespian tells no one but the parent; monitoring an
actor that is already gone yields no `Down`. Exit signals are only accepted
from linked actors (there is no OTP ``exit/2``).

Subclasses implement `receive(msg, sender)` (not `receiveMessage`) and may
override `terminate(reason)`.
"""

from __future__ import annotations

import itertools
import logging
import os
from dataclasses import dataclass
from typing import Any

from thespian.actors import Actor, ActorExitRequest, ChildActorExited, WakeupMessage

from ._decisions import IGNORE, KILLED, NORMAL, SHUTDOWN
from ._liveness import ProcessWatcher, drop_address
from ._protocol import ChildReady, Exit, Supervised
from .messages import Demonitor, Down, ExitSignal, Link, Monitor, Shutdown, Unlink

log = logging.getLogger("supervisors")


@dataclass(frozen=True, slots=True)
class _StopSelf:
    """Wakeup payload: the supervisor did not stop us within `exit_grace`."""


@dataclass(frozen=True, slots=True)
class _OrphanCheck:
    """Wakeup payload: time to check that the supervisor's process still lives."""


class LinkedActor(ProcessWatcher, Actor):
    """Base class for supervised children and for actors using links or monitors.

    Class attributes (override in subclasses):
        trap_exit: deliver `ExitSignal` from linked actors to `receive`
            instead of ending with their abnormal reason.
        crash_on_exception: an exception from `receive` ends the actor with
            reason ``("exception", "Type: text")``.
        exit_grace: seconds a supervised actor that called `exit` waits for
            its supervisor to stop it before stopping itself. None trusts the
            supervisor and arms no timer: for actors that come and go by the
            thousand in their supervisor's process, since Thespian's simple
            base scans every pending wakeup on every message.
        orphan_check: when the supervisor runs in another process (the
            multiprocess runtimes), check every this many seconds that it
            still is this process's parent; if not (it was SIGKILLed, and
            Thespian tells its children nothing), end with reason
            "orphaned". None turns the check off.
        liveness_check: seconds between two checks of the processes given
            to `watch_process` (see `ProcessWatcher`).

    Attributes:
        supervisor: the supervisor's address, once `Supervised` arrived.
        child_id: this actor's id at its supervisor.
        exit_reason: None while running; the reason once it is ending.
    """

    trap_exit = False
    crash_on_exception = True
    exit_grace = 2.0
    orphan_check = 1.0
    _ready_after_children = False  # a Supervisor answers ChildReady itself, later

    # message type -> handler name; subclasses extend it (see Supervisor)
    _PROTOCOL = {
        Supervised: "_on_supervised", Shutdown: "_on_shutdown", Link: "_on_link",
        Unlink: "_on_unlink", ExitSignal: "_on_exit_signal", Monitor: "_on_monitor",
        Demonitor: "_on_demonitor", Down: "_on_down", ActorExitRequest: "_on_actor_exit_request",
    }

    def __init__(self) -> None:
        super().__init__()
        self.supervisor = None
        self.child_id = None
        self.exit_reason = None
        self._parent_pid = None
        self._links: list = []  # addresses (ActorAddress is not hashable)
        self._watchers: list = []  # (ref, watcher address): who monitors us
        self._monitoring: dict = {}  # ref -> address: whom we monitor
        self._refs = itertools.count(1)
        self._initializing = False  # handling the init message: ignore() is allowed
        self._ready_sent = False

    # -- the callbacks ------------------------------------------------------------------

    def receive(self, msg: Any, sender: Any) -> None:
        """Handle an application message (and `Down`, trapped `ExitSignal`,
        `ChildActorExited`, `WakeupMessage`, ...). Default: ignore it."""

    def terminate(self, reason: Any) -> None:
        """Called once when the actor ends, before anyone is told. Default: nothing."""

    # -- the API ------------------------------------------------------------------------

    def exit(self, reason: Any = NORMAL) -> None:
        """End this actor with `reason` (see the module docstring). Idempotent."""
        if self.exit_reason is not None:
            return
        self._ending(reason)
        if self.supervisor is not None:
            self.send(self.supervisor, Exit(reason))
            if self.exit_grace is not None:
                self.wakeupAfter(self.exit_grace, _StopSelf())
        else:
            self.send(self.myAddress, ActorExitRequest())

    def ignore(self) -> None:
        """Decline to start; only while handling the init message (OTP's ``ignore``).

        The supervisor goes on with its other children and never restarts
        this one: it keeps its spec, stopped (`RestartChild` may start it
        later), unless it is temporary or a simple_one_for_one instance,
        which are forgotten. `StartChild` / `RestartChild` answer
        ``Started(id, None)``.

        Raises:
            RuntimeError: called after the init message was handled; end a
                started actor with ``exit("normal")`` instead.
        """
        if not self._initializing:
            raise RuntimeError("ignore() is only for the init message; "
                               "call exit('normal') to end a started actor")
        self.exit(IGNORE)

    def link(self, other: Any) -> None:
        """Link this actor and `other` both ways."""
        if not self._has(self._links, other):
            self._links.append(other)
            self.send(other, Link(self.myAddress))

    def unlink(self, other: Any) -> None:
        """Remove the link with `other`, both ways."""
        if self._drop(self._links, other):
            self.send(other, Unlink(self.myAddress))

    def monitor(self, other: Any) -> Any:
        """Ask for a `Down(ref, other, reason)` when `other` ends; return `ref`."""
        ref = (self.myAddress.actorAddressString, next(self._refs))
        self._monitoring[ref] = other
        self.send(other, Monitor(ref, self.myAddress))
        return ref

    def demonitor(self, ref: Any) -> None:
        """Cancel a monitor; no `Down` for it will be delivered."""
        other = self._monitoring.pop(ref, None)
        if other is not None:
            self.send(other, Demonitor(ref))

    # -- dispatch -----------------------------------------------------------------------

    def receiveMessage(self, msg: Any, sender: Any) -> None:
        if not self.watch_consumes(msg):
            self._dispatch(msg, sender)

    def _dispatch(self, msg: Any, sender: Any) -> None:
        handler = self._PROTOCOL.get(type(msg))
        if handler is not None:
            getattr(self, handler)(msg, sender)
            return
        if isinstance(msg, WakeupMessage) and isinstance(msg.payload, _StopSelf):
            self.send(self.myAddress, ActorExitRequest())
            return
        if isinstance(msg, WakeupMessage) and isinstance(msg.payload, _OrphanCheck):
            self._check_orphan()
            return
        if self.exit_reason is not None:
            return  # ending: the application sees nothing more
        if isinstance(msg, ChildActorExited):
            self._child_exited(msg.childAddress)
            if self.exit_reason is not None:
                return
        self._deliver(msg, sender)

    def _deliver(self, msg: Any, sender: Any) -> None:
        try:
            self.receive(msg, sender)
        except Exception as exc:
            if not self.crash_on_exception:
                raise
            log.warning("%s crashed on %r", type(self).__name__, msg, exc_info=True)
            self.exit(("exception", f"{type(exc).__name__}: {exc}"))

    def _ending(self, reason: Any) -> None:
        self.exit_reason = reason
        try:
            self.terminate(reason)
        except Exception:
            log.exception("%s.terminate(%r) failed", type(self).__name__, reason)
        me = self.myAddress
        for peer in self._links:
            self.send(peer, ExitSignal(me, reason))
        for ref, watcher in self._watchers:
            self.send(watcher, Down(ref, me, reason))
        self._links, self._watchers = [], []

    # -- protocol handlers --------------------------------------------------------------

    def _on_supervised(self, msg: Supervised, sender: Any) -> None:
        self.supervisor, self.child_id = msg.supervisor, msg.child_id
        self._parent_pid = msg.pid
        if msg.pid is not None and msg.pid == os.getppid() and self.orphan_check:
            self.wakeupAfter(self.orphan_check, _OrphanCheck())  # it forked us: watch it
        if msg.init is not None:
            self._initializing = True
            try:
                self._deliver(msg.init, sender)
            finally:
                self._initializing = False
        if self.exit_reason is None and self._ready_now():  # else Exit(reason) went instead
            self._send_ready()

    def _ready_now(self) -> bool:
        """Whether `ChildReady` goes as soon as the init message is handled."""
        return True

    def _send_ready(self) -> None:
        if self.supervisor is not None and not self._ready_sent:
            self._ready_sent = True
            self.send(self.supervisor, ChildReady(os.getpid()))

    def _check_orphan(self) -> None:
        if self.exit_reason is not None:
            return
        if os.getppid() == self._parent_pid:
            self.wakeupAfter(self.orphan_check, _OrphanCheck())
        else:
            log.warning("%s: supervisor process gone; exiting", type(self).__name__)
            self.supervisor = None  # nobody to tell or to wait for
            self.exit("orphaned")

    def _on_shutdown(self, msg: Shutdown, sender: Any) -> None:
        self.exit(SHUTDOWN)

    def _on_actor_exit_request(self, msg: ActorExitRequest, sender: Any) -> None:
        if self.exit_reason is None:
            self._ending(SHUTDOWN)

    def _on_link(self, msg: Link, sender: Any) -> None:
        if self.exit_reason is not None:
            self.send(msg.peer, ExitSignal(self.myAddress, self.exit_reason))
        elif not self._has(self._links, msg.peer):
            self._links.append(msg.peer)

    def _on_unlink(self, msg: Unlink, sender: Any) -> None:
        self._drop(self._links, msg.peer)

    def _on_monitor(self, msg: Monitor, sender: Any) -> None:
        if self.exit_reason is not None:
            self.send(msg.watcher, Down(msg.ref, self.myAddress, self.exit_reason))
        else:
            self._watchers.append((msg.ref, msg.watcher))

    def _on_demonitor(self, msg: Demonitor, sender: Any) -> None:
        self._watchers = [(r, w) for r, w in self._watchers if r != msg.ref]

    def _on_down(self, msg: Down, sender: Any) -> None:
        if self._monitoring.pop(msg.ref, None) is not None and self.exit_reason is None:
            self._deliver(msg, sender)  # else: demonitored, or already reported as "killed"

    def _on_exit_signal(self, msg: ExitSignal, sender: Any) -> None:
        if self.exit_reason is not None or not self._drop(self._links, msg.sender):
            return  # not linked (any more): ignore, as an unlinked process would
        if self.trap_exit:
            self._deliver(msg, sender)
        elif msg.reason != NORMAL:
            self.exit(msg.reason)

    def _child_exited(self, child: Any) -> None:
        """A child died; tell links and monitors that heard nothing: reason "killed"."""
        for ref, other in list(self._monitoring.items()):
            if other == child:
                self._on_down(Down(ref, child, KILLED), child)
        if self._has(self._links, child):
            self._on_exit_signal(ExitSignal(child, KILLED), child)

    @staticmethod
    def _has(addresses: list, address: Any) -> bool:
        return any(a == address for a in addresses)

    _drop = staticmethod(drop_address)
