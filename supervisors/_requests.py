"""The supervisor's child table and its request handlers (start_child & co).

Private: `supervisors.supervisor.Supervisor` mixes `RequestsMixin` in. Each
handler runs when the supervisor is idle (no start or stop in progress) and
replies to the sender, with a `SupervisorError` from the closed vocabulary
in `supervisors.messages` when the request cannot be done.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Optional

from . import messages as m
from .spec import ChildSpec, SpecError, Start, _validate_child

REQUESTS = (m.StartChild, m.TerminateChild, m.RestartChild, m.DeleteChild, m.WhichChildren,
            m.WhichChild, m.GetChildSpec, m.CountChildren)


@dataclass(eq=False)  # identity: a child is itself, whatever its fields
class Child:
    """One entry of the child table (a spec, and what is running for it)."""

    spec: ChildSpec
    address: Any = None  # None: not running
    pid: Optional[int] = None  # reported in ChildReady
    restarts: int = 0
    generation: int = 0  # bumped at each start; tells stale exit events apart
    reason: Any = None  # from the child's Exit, until its ChildActorExited
    stopping: bool = False  # the supervisor is stopping it: not a failure
    restarting: bool = False  # its restart failed; a retry is on its way

    def status(self) -> m.ChildStatus:
        return m.ChildStatus(self.spec.id, self.address, self.spec.type, self.pid, self.restarts,
                             self.restarting)


class ChildTable:
    """The children in start order, found by id or by address in O(1).

    A simple_one_for_one supervisor of an engine holds thousands of children
    that come and go; list scans per exit made that quadratic. Addresses are
    keyed by their string, with a scan as fallback: on the multiprocess
    bases an address may first be a local stand-in that only compares equal
    (Thespian's `eqOverride`) to the one later messages carry.
    """

    def __init__(self, children: Any = ()) -> None:
        self._by_id: dict[Any, Child] = {}
        self._by_address: dict[str, Child] = {}
        for child in children:
            self.add(child)

    def __iter__(self):
        return iter(self._by_id.values())

    def __reversed__(self):
        return reversed(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, child: Child) -> bool:
        return self._by_id.get(child.spec.id) is child

    def add(self, child: Child) -> None:
        self._by_id[child.spec.id] = child

    def remove(self, child: Child) -> None:
        self.unbind(child)
        del self._by_id[child.spec.id]

    def by_id(self, child_id: Any) -> Optional[Child]:
        return self._by_id.get(child_id)

    def bind(self, child: Child, address: Any) -> None:
        self.unbind(child)
        child.address = address
        self._by_address[address.actorAddressString] = child

    def unbind(self, child: Child) -> None:
        if child.address is not None:
            key = child.address.actorAddressString
            if self._by_address.get(key) is child:
                del self._by_address[key]
            child.address = None

    def by_address(self, address: Any) -> Optional[Child]:
        child = self._by_address.get(address.actorAddressString)
        if child is not None and child.address is not None:
            return child
        return next((c for c in self._by_id.values() if c.address is not None and c.address == address), None)


class RequestsMixin:
    """`_request(msg, sender)` for the requests in `REQUESTS` (needs a `Supervisor`)."""

    def _request(self, msg: Any, sender: Any) -> None:
        s = self._s
        simple = s.spec.strategy == "simple_one_for_one"
        template = s.spec.children[0] if simple else None
        if isinstance(msg, m.WhichChildren):
            self._reply(sender, m.Children(tuple(c.status() for c in s.children)))
        elif isinstance(msg, m.CountChildren):
            self._reply(sender, _count(s.children, template))
        elif isinstance(msg, m.StartChild):
            self._start_new(msg, sender, simple)
        elif isinstance(msg, m.GetChildSpec) and simple and msg.id == template.id:
            self._reply(sender, template)
        elif isinstance(msg, (m.RestartChild, m.DeleteChild)) and simple:
            self._reply(sender, m.SupervisorError(
                m.SIMPLE_ONE_FOR_ONE, f"{type(msg).__name__} is not for simple_one_for_one"))
        elif isinstance(msg, m.TerminateChild) and simple and self._by_id(msg.id) is None:
            self._reply(sender, _terminate_absent_instance(msg.id, template.id, s.instances))
        elif self._by_id(msg.id) is None:
            self._reply(sender, m.SupervisorError(m.NOT_FOUND, repr(msg.id)))
        elif isinstance(msg, m.WhichChild):
            self._reply(sender, self._by_id(msg.id).status())
        elif isinstance(msg, m.GetChildSpec):
            self._reply(sender, self._by_id(msg.id).spec)
        elif isinstance(msg, m.TerminateChild):
            self._by_id(msg.id).restarting = False  # its pending retry is now stale
            self._run([("stop", msg.id)], lambda failed: self._terminated(msg.id, sender, simple))
        elif self._by_id(msg.id).address is not None:  # restart or delete a running child
            self._reply(sender, m.SupervisorError(m.RUNNING, repr(msg.id)))
        elif self._by_id(msg.id).restarting:
            self._reply(sender, m.SupervisorError(m.RESTARTING, repr(msg.id)))
        elif isinstance(msg, m.RestartChild):
            self._run([("start", msg.id, False)],
                      lambda failed: self._started(msg.id, sender, failed, forget=False))
        else:
            s.children.remove(self._by_id(msg.id))
            self._reply(sender, m.Deleted(msg.id))

    def _start_new(self, msg: m.StartChild, sender: Any, simple: bool) -> None:
        s = self._s
        if simple:
            if msg.spec is not None:
                self._reply(sender, m.SupervisorError(m.SIMPLE_ONE_FOR_ONE,
                                                      "give StartChild a message, not a spec"))
                return
            template = s.spec.children[0]
            s.instances += 1
            message = template.start.message if msg.message is None else msg.message
            spec = replace(template, id=(template.id, s.instances),
                           start=Start(template.start.actor_class, message))
        else:
            try:
                spec = _validate_child(msg.spec, "spec", s.spec.auto_shutdown)
            except SpecError as exc:
                self._reply(sender, m.SupervisorError(m.INVALID_SPEC, str(exc)))
                return
            existing = self._by_id(spec.id)
            if existing is not None:
                code = m.ALREADY_STARTED if existing.address is not None else m.ALREADY_PRESENT
                self._reply(sender, m.SupervisorError(code, repr(spec.id)))
                return
        s.children.add(Child(spec))
        self._run([("start", spec.id, False)],
                  lambda failed: self._started(spec.id, sender, failed, forget=True))

    def _started(self, child_id: Any, sender: Any, failed: list, forget: bool) -> None:
        child = self._by_id(child_id)
        if failed:
            if forget:  # a child that never started leaves no trace (as in OTP)
                self._s.children.remove(child)
            self._reply(sender, m.SupervisorError(m.START_FAILED, repr(failed[0][1])))
            return
        if child.address is None and (child.spec.restart == "temporary"
                                      or self._s.spec.strategy == "simple_one_for_one"):
            self._s.children.remove(child)  # it chose not to start: as in OTP, not kept
        self._reply(sender, m.Started(child_id, child.address))

    def _terminated(self, child_id: Any, sender: Any, simple: bool) -> None:
        child = self._by_id(child_id)
        if child is not None and (simple or child.spec.restart == "temporary"):
            self._s.children.remove(child)
        self._reply(sender, m.Terminated(child_id))

    def _by_address(self, address: Any) -> Optional[Child]:
        if self._s is None or address is None:
            return None
        return self._s.children.by_address(address)

    def _by_id(self, child_id: Any) -> Optional[Child]:
        return self._s.children.by_id(child_id)


def _count(children: ChildTable, template: Optional[ChildSpec]) -> m.ChildCount:
    """`ChildCount` as OTP counts: under simple_one_for_one (`template` given)
    one spec, and the instances by the template's type."""
    active = sum(c.address is not None for c in children)
    if template is not None:
        n = len(children)
        return m.ChildCount(1, active, n if template.type == "supervisor" else 0,
                            n if template.type == "worker" else 0)
    sups = sum(c.spec.type == "supervisor" for c in children)
    return m.ChildCount(len(children), active, sups, len(children) - sups)


def _terminate_absent_instance(child_id: Any, template_id: Any, instances: int) -> Any:
    """The reply to `TerminateChild` of a simple_one_for_one id that is not held."""
    if child_id == template_id:  # OTP: only pids there, never the spec's id
        return m.SupervisorError(m.SIMPLE_ONE_FOR_ONE,
                                 "TerminateChild takes an instance id (template_id, n) here")
    if (isinstance(child_id, tuple) and len(child_id) == 2 and child_id[0] == template_id
            and isinstance(child_id[1], int) and 0 < child_id[1] <= instances):
        return m.Terminated(child_id)  # it ended already: what was asked is done (as in OTP)
    return m.SupervisorError(m.NOT_FOUND, repr(child_id))
