"""Child processes watched for death without Thespian's word for it (private).

Thespian's `ChildActorExited` is the only death notice, and it is lost on
multiprocTCPBase when several children die at once (FACTS.md), and never
sent on multiprocQueueBase. `PidWatch` holds a pidfd per watched process
(Linux >= 5.3: it turns readable when the process ends, even once reaped,
and never names a reused pid); without pidfds it falls back to asking the
kernel whether the pid still runs. `ProcessWatcher` (public, re-exported by
`links`) is the actor side: it arms the sweeps and sends the notices.
"""

from __future__ import annotations

import os
import select
from collections import deque
from dataclasses import dataclass
from typing import Any, Optional

from thespian.actors import ChildActorExited, WakeupMessage


class PidWatch:
    """Actor addresses and the process ids they run in; `dead()` finds the gone ones."""

    def __init__(self) -> None:
        self._watched: list[tuple[Any, int, Optional[int]]] = []  # (address, pid, pidfd)

    def __len__(self) -> int:
        return len(self._watched)

    def add(self, address: Any, pid: int) -> None:
        self.discard(address)
        try:
            fd: Optional[int] = os.pidfd_open(pid)
        except (AttributeError, OSError):  # no pidfds here, or it is already reaped
            fd = None
        self._watched.append((address, pid, fd))

    def discard(self, address: Any) -> bool:
        """Stop watching `address`; whether it was watched."""
        for i, (watched, _, fd) in enumerate(self._watched):
            if watched == address:
                del self._watched[i]
                _close(fd)
                return True
        return False

    def dead(self) -> list:
        """The addresses whose process has ended (each reported once)."""
        poller = select.poll()
        for _, _, fd in self._watched:
            if fd is not None:
                poller.register(fd, select.POLLIN)
        ended = {fd for fd, _ in poller.poll(0)}
        gone, kept = [], []
        for entry in self._watched:
            address, pid, fd = entry
            if (fd in ended) if fd is not None else not _runs(pid):
                gone.append(address)
                _close(fd)
            else:
                kept.append(entry)
        self._watched = kept
        return gone

    def close(self) -> None:
        for _, _, fd in self._watched:
            _close(fd)
        self._watched = []


class DeathWatch:
    """A `ProcessWatcher`'s bookkeeping for `watch_process`: which children to check,
    and which deaths were already delivered (so each is delivered once)."""

    def __init__(self) -> None:
        self.pids = PidWatch()
        self.sweeping = False  # a sweep wakeup is armed
        self._announced: list = []  # dead children whose notice the actor sent itself
        self._delivered: deque = deque(maxlen=256)  # watched children whose death was delivered

    def add(self, address: Any, pid: int) -> bool:
        """Watch `address`; True when the caller must arm a sweep."""
        self.pids.add(address, pid)
        return self._arm()

    def sweep(self) -> tuple[list, bool]:
        """The children found dead (to announce), and whether to arm the next sweep."""
        self.sweeping = False
        dead = self.pids.dead()
        self._announced.extend(dead)
        return dead, self._arm()

    def first_notice(self, address: Any) -> bool:
        """A `ChildActorExited(address)` arrived: False if that death was delivered already."""
        if any(a == address for a in self._delivered):
            return False
        if self.pids.discard(address) | drop_address(self._announced, address):
            self._delivered.append(address)
        return True

    def _arm(self) -> bool:
        if self.sweeping or not len(self.pids):
            return False
        self.sweeping = True
        return True


@dataclass(frozen=True, slots=True)
class _LivenessSweep:
    """Wakeup payload: time to check that the watched child processes still live."""


class ProcessWatcher:
    """Mixin for any Thespian `Actor`: hear of a child's death even when Thespian does not tell.

    ``class Parent(ProcessWatcher, Actor)`` calls ``self.watch_process(child,
    pid)`` once it knows the process its child runs in, and begins its
    ``receiveMessage`` with ``if self.watch_consumes(msg): return``. The
    child's death then arrives as a `ChildActorExited(child)` at most
    `liveness_check` seconds after its process ended, exactly once. An actor
    that never calls `watch_process` pays one attribute test per message.

    Attributes:
        liveness_check: seconds between two checks of the watched processes.
    """

    liveness_check = 0.25
    _watched_deaths: DeathWatch | None = None  # made by watch_process: most actors never need one

    def watch_process(self, child: Any, pid: int) -> None:
        """Report the death of child actor `child`, running as process `pid`,
        even if Thespian does not (see the class docstring).

        Watch `child` under the address its own messages came from (their
        sender): the one `createActor` returned may be a local stand-in that
        the notice this actor sends itself cannot carry. Only for actors in
        other processes.
        """
        if self._watched_deaths is None:
            self._watched_deaths = DeathWatch()
        if self._watched_deaths.add(child, pid):
            self.wakeupAfter(self.liveness_check, _LivenessSweep())

    def watch_consumes(self, msg: Any) -> bool:
        """Whether `msg` was the watch's own business (a check, or the second
        notice of one death); the actor must then not handle it."""
        if self._watched_deaths is None:
            return False
        if isinstance(msg, ChildActorExited):
            return not self._watched_deaths.first_notice(msg.childAddress)
        if isinstance(msg, WakeupMessage) and isinstance(msg.payload, _LivenessSweep):
            self._sweep_watched()
            return True
        return False

    def _sweep_watched(self) -> None:
        dead, again = self._watched_deaths.sweep()
        for child in dead:
            # Through Thespian, not straight to the handler: it must forget the child
            # too, or a LinkedActor's own exit would wait for it forever.
            self.send(self.myAddress, ChildActorExited(child))
        if again:
            self.wakeupAfter(self.liveness_check, _LivenessSweep())


def drop_address(addresses: list, address: Any) -> bool:
    """Remove the first `address` from `addresses`; whether it was there."""
    for i, a in enumerate(addresses):
        if a == address:
            del addresses[i]
            return True
    return False


def _runs(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has ended
    except (FileNotFoundError, IndexError):
        return False
    except OSError:
        return True


def _close(fd: Optional[int]) -> None:
    if fd is not None:
        try:
            os.close(fd)
        except OSError:
            pass
